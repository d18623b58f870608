// The transform pipeline on the corpus: geometry, orientation, colour, metadata, quality
// against libvips, determinism; and the spec parser's answers to bad input.
#include "image/transform.h"

#include <gtest/gtest.h>
#include <vips/vips.h>

#include <cmath>
#include <random>

#include "core/errors.h"
#include "core/memory_source.h"
#include "image/jpeg_fast_decode.h"
#include "image/jpeg_header.h"
#include "image/jpeg_info.h"
#include "image/resample.h"
#include "image/transform_spec.h"
#include "image/vips_decode.h"
#include "test_util.h"

namespace imgd {
namespace {

using testing::ReadCorpus;

const std::vector<std::string> kRealPhotos = {
    "real/real_01_skagen_800x533.jpg",      "real/real_02_honeybee_1620x1280.jpg",
    "real/real_03_storm_1920x1280.jpg",     "real/real_04_colorfulcups_2560x1600.jpg",
    "real/real_05_wood_2560x1920.jpg",      "real/real_06_after_the_rain_3000x1993.jpg",
    "real/real_07_chameleon_1306x1530.jpg", "real/real_08_sunset_4272x2848.jpg",
    "real/real_09_kleiber_6028x3391.jpg"};

class TransformTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { VipsStartup("imgd_unit_tests"); }
};

Pixels FromVips(VipsImage* img) {
  VipsImage* t = nullptr;
  if (img->BandFmt != VIPS_FORMAT_UCHAR) {
    EXPECT_EQ(vips_cast_uchar(img, &t, nullptr), 0);
    g_object_unref(img);
    img = t;
  }
  size_t len = 0;
  void* buf = vips_image_write_to_memory(img, &len);
  Pixels p = Pixels::Make(img->Xsize, img->Ysize, img->Bands);
  std::memcpy(p.data.data(), buf, std::min(len, p.bytes()));
  g_free(buf);
  g_object_unref(img);
  return p;
}

// Decodes a JPEG (our output) with libvips.
Pixels Decode(const std::string& jpeg) {
  VipsImage* img = nullptr;
  if (vips_jpegload_buffer(const_cast<char*>(jpeg.data()), jpeg.size(), &img, "fail_on",
                           VIPS_FAIL_ON_WARNING, nullptr) != 0) {
    ADD_FAILURE() << vips_error_buffer();
    vips_error_clear();
    return {};
  }
  return FromVips(img);
}

// libvips' own answer: thumbnail (shrink-on-load, lanczos3, autorotate) to w x h; with
// to_srgb, colour converted from the embedded (or CMYK) profile to sRGB. (Without a
// profile to convert from, libvips 8.14's export shifts the colours, so it is asked for
// only where one exists.)
Pixels VipsThumbnail(const std::string& jpeg, int w, int h, bool to_srgb = false) {
  VipsImage* img = nullptr;
  int rc = to_srgb ? vips_thumbnail_buffer(const_cast<char*>(jpeg.data()), jpeg.size(), &img, w,
                                           "height", h, "size", VIPS_SIZE_DOWN, "export_profile",
                                           "srgb", nullptr)
                   : vips_thumbnail_buffer(const_cast<char*>(jpeg.data()), jpeg.size(), &img, w,
                                           "height", h, "size", VIPS_SIZE_DOWN, nullptr);
  EXPECT_EQ(rc, 0) << vips_error_buffer();
  return FromVips(img);
}

double Psnr(const Pixels& a, const Pixels& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.channels, b.channels);
  if (a.bytes() != b.bytes()) return 0;
  double se = 0;
  for (size_t i = 0; i < a.bytes(); ++i) {
    double d = static_cast<double>(a.data[i]) - b.data[i];
    se += d * d;
  }
  double mse = se / static_cast<double>(a.bytes());
  return mse == 0 ? 99 : 10 * std::log10(255.0 * 255.0 / mse);
}

std::array<double, 3> MeanRgb(const Pixels& p) {
  std::array<double, 3> m{0, 0, 0};
  for (int y = 0; y < p.height; ++y) {
    for (int x = 0; x < p.width; ++x) {
      for (int c = 0; c < 3; ++c) m[c] += p.row(y)[x * p.channels + std::min(c, p.channels - 1)];
    }
  }
  for (double& v : m) v /= static_cast<double>(p.width) * p.height;
  return m;
}

// Mean absolute difference of two images' grey versions at 32x32.
double GreyMad(const Pixels& a, const Pixels& b) {
  Pixels sa = Resample(a, 32, 32), sb = Resample(b, 32, 32);
  double sum = 0;
  for (int i = 0; i < 32 * 32; ++i) {
    auto grey = [](const Pixels& p, int i) {
      const uint8_t* px = p.data.data() + static_cast<size_t>(i) * p.channels;
      return p.channels == 1 ? px[0] : (px[0] * 299 + px[1] * 587 + px[2] * 114) / 1000.0;
    };
    sum += std::fabs(grey(sa, i) - grey(sb, i));
  }
  return sum / (32 * 32);
}

TransformResult RunTransform(const std::string& jpeg, TransformSpec spec,
                             DecodePath path = DecodePath::kAuto) {
  MemorySource src(jpeg);
  TransformOptions o;
  o.path = path;
  return TransformJpeg(src, spec, o);
}

TransformSpec Size(int w, int h, Fit fit = Fit::kCover) {
  TransformSpec s;
  s.width = w;
  s.height = h;
  s.fit = fit;
  return s;
}

// ---- spec parsing and geometry ----

TEST(TransformSpecTest, CanonicalStringsAreNormalised) {
  EXPECT_EQ(Size(300, 200).Canonical(), "w300-h200-cover-q80");
  EXPECT_EQ(Size(300, 0, Fit::kContain).Canonical(), "w300-q80");  // fit irrelevant
  TransformSpec s = Size(300, 200, Fit::kContain);
  s.quality = 90;
  s.enlarge = s.progressive = true;
  s.background = 0x102030;
  EXPECT_EQ(s.Canonical(), "w300-h200-contain-q90-e-p-bg102030");
  const std::map<std::string, std::string> expected = {{"w", "300"},        {"h", "200"},
                                                       {"fit", "contain"},  {"q", "90"},
                                                       {"enlarge", "true"}, {"progressive", "true"},
                                                       {"bg", "102030"}};
  EXPECT_EQ(s.QueryParams(), expected);
}

TEST(TransformSpecTest, EveryBadParameterIsA400NamingIt) {
  TransformLimits limits;
  struct Case {
    std::map<std::string, std::string> q;
    std::string parameter;
  };
  const std::vector<Case> cases = {
      {{{"w", "0"}}, "w"},
      {{{"w", "-5"}}, "w"},
      {{{"w", "abc"}}, "w"},
      {{{"w", "8193"}}, "w"},
      {{{"w", "1e3"}}, "w"},
      {{{"w", ""}}, "w"},
      {{{"h", "99999"}}, "h"},
      {{{"w", "10"}, {"fit", "stretch"}}, "fit"},
      {{{"w", "10"}, {"q", "0"}}, "q"},
      {{{"w", "10"}, {"q", "101"}}, "q"},
      {{{"w", "10"}, {"enlarge", "yes"}}, "enlarge"},
      {{{"w", "10"}, {"progressive", "2"}}, "progressive"},
      {{{"w", "10"}, {"bg", "red"}}, "bg"},
      {{{"w", "10"}, {"size", "10"}}, "size"},
      {{{"fit", "cover"}}, "w"},
      {{{"q", "50"}}, "w"},
      {{{"w", "8000"}, {"h", "8000"}}, "w"},  // output pixels
  };
  for (const auto& c : cases) {
    try {
      ParseTransformQuery(c.q, limits);
      ADD_FAILURE() << "accepted " << c.parameter;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      ASSERT_TRUE(e.extra().contains("parameter")) << e.detail();
      EXPECT_EQ(e.extra().at("parameter").as_string(), c.parameter) << e.detail();
    }
  }
}

TEST(TransformSpecTest, AllowedSizesSwitch) {
  TransformLimits limits;
  limits.allowed_sizes = ParseSizeList("300x200, 1200x,x800");
  ASSERT_EQ(limits.allowed_sizes.size(), 3u);
  EXPECT_EQ(limits.allowed_sizes[1], std::make_pair(1200, 0));
  EXPECT_NO_THROW(ParseTransformQuery({{"w", "301"}}, limits));  // switch off: any size
  limits.only_allowed_sizes = true;
  EXPECT_NO_THROW(ParseTransformQuery({{"w", "300"}, {"h", "200"}}, limits));
  EXPECT_NO_THROW(ParseTransformQuery({{"w", "1200"}}, limits));
  EXPECT_NO_THROW(ParseTransformQuery({{"h", "800"}, {"q", "50"}}, limits));
  EXPECT_THROW(ParseTransformQuery({{"w", "301"}, {"h", "200"}}, limits), Error);
  EXPECT_THROW(ParseTransformQuery({{"w", "300"}}, limits), Error);
  EXPECT_THROW(ParseSizeList("300"), std::invalid_argument);
  EXPECT_THROW(ParseSizeList("x"), std::invalid_argument);
  EXPECT_THROW(ParseSizeList("0x5"), std::invalid_argument);
}

TEST(TransformSpecTest, GeometryOfEachFit) {
  auto g = PlanTransform(4000, 3000, Size(300, 300, Fit::kCover));
  EXPECT_EQ(std::tie(g.scaled_width, g.scaled_height), std::make_tuple(400, 300));
  EXPECT_EQ(std::tie(g.crop_x, g.crop_y, g.crop_width, g.crop_height),
            std::make_tuple(50, 0, 300, 300));
  g = PlanTransform(4000, 3000, Size(300, 300, Fit::kContain));
  EXPECT_EQ(std::tie(g.scaled_width, g.scaled_height), std::make_tuple(300, 225));
  EXPECT_EQ(std::tie(g.canvas_width, g.canvas_height, g.offset_x, g.offset_y),
            std::make_tuple(300, 300, 0, 37));
  g = PlanTransform(4000, 3000, Size(300, 300, Fit::kFill));
  EXPECT_EQ(std::tie(g.scaled_width, g.scaled_height), std::make_tuple(300, 300));
  g = PlanTransform(4000, 3000, Size(300, 300, Fit::kInside));
  EXPECT_EQ(std::tie(g.canvas_width, g.canvas_height), std::make_tuple(300, 225));
  g = PlanTransform(4000, 3000, Size(0, 150));
  EXPECT_EQ(std::tie(g.canvas_width, g.canvas_height), std::make_tuple(200, 150));
  // No upscaling: a box bigger than the original shrinks to fit it, aspect kept.
  g = PlanTransform(400, 300, Size(800, 800, Fit::kCover));
  EXPECT_EQ(std::tie(g.canvas_width, g.canvas_height), std::make_tuple(300, 300));
  g = PlanTransform(400, 300, Size(1000, 0));
  EXPECT_EQ(std::tie(g.canvas_width, g.canvas_height), std::make_tuple(400, 300));
  TransformSpec up = Size(800, 0);
  up.enlarge = true;
  g = PlanTransform(400, 300, up);
  EXPECT_EQ(std::tie(g.canvas_width, g.canvas_height), std::make_tuple(800, 600));
  // Extreme aspect ratios never reach 0 px.
  g = PlanTransform(10000, 10, Size(100, 0));
  EXPECT_EQ(std::tie(g.canvas_width, g.canvas_height), std::make_tuple(100, 1));
}

// ---- pixels ----

TEST(ResampleTest, SimdAndScalarKernelsAgree) {
  std::mt19937 rng(7);
  for (int channels : {1, 3}) {
    for (auto [w, h, ow, oh] :
         {std::array<int, 4>{517, 301, 123, 77}, std::array<int, 4>{64, 48, 200, 150},
          std::array<int, 4>{5, 3, 2, 1}, std::array<int, 4>{1, 1, 3, 3}}) {
      Pixels in = Pixels::Make(w, h, channels);
      for (size_t i = 0; i < in.bytes(); ++i) in.data[i] = static_cast<uint8_t>(rng());
      SetResampleSimd(true);
      Pixels a = Resample(in, ow, oh);
      SetResampleSimd(false);
      Pixels b = Resample(in, ow, oh);
      SetResampleSimd(true);
      ASSERT_EQ(a.width, ow);
      ASSERT_EQ(a.height, oh);
      EXPECT_TRUE(std::equal(a.data.begin(), a.data.begin() + a.bytes(), b.data.begin()))
          << w << "x" << h << "->" << ow << "x" << oh << " channels " << channels;
    }
  }
}

bool SamePixels(const Pixels& a, const Pixels& b) {
  return a.width == b.width && a.height == b.height && a.channels == b.channels &&
         std::equal(a.data.begin(), a.data.begin() + a.bytes(), b.data.begin());
}

TEST(ResampleTest, AWindowIsTheSamePixelsAsResamplingAllAndCropping) {
  std::mt19937 rng(11);
  for (bool simd : {true, false}) {
    SetResampleSimd(simd);
    for (int channels : {1, 3}) {
      for (auto [w, h, ow, oh] :
           {std::array<int, 4>{517, 301, 123, 77}, std::array<int, 4>{64, 48, 200, 150},
            std::array<int, 4>{300, 200, 300, 90}, std::array<int, 4>{90, 300, 40, 300}}) {
        Pixels in = Pixels::Make(w, h, channels);
        for (size_t i = 0; i < in.bytes(); ++i) in.data[i] = static_cast<uint8_t>(rng());
        const Pixels all = Resample(in, ow, oh);
        for (int trial = 0; trial < 20; ++trial) {
          Rect r;
          r.x = static_cast<int>(rng() % ow);
          r.y = static_cast<int>(rng() % oh);
          r.width = 1 + static_cast<int>(rng() % (ow - r.x));
          r.height = 1 + static_cast<int>(rng() % (oh - r.y));
          EXPECT_TRUE(
              SamePixels(ResampleWindow(in, ow, oh, r), Crop(all, r.x, r.y, r.width, r.height)))
              << w << "x" << h << "->" << ow << "x" << oh << " window " << r.x << "," << r.y << " "
              << r.width << "x" << r.height << " simd " << simd;
        }
      }
    }
  }
  SetResampleSimd(true);
}

TEST(PixelsTest, CroppingTheStoredRectThenOrientingIsOrientingThenCropping) {
  std::mt19937 rng(5);
  Pixels stored = Pixels::Make(37, 23, 3);
  for (size_t i = 0; i < stored.bytes(); ++i) stored.data[i] = static_cast<uint8_t>(rng());
  for (int o = 1; o <= 8; ++o) {
    const Pixels upright = Orient(stored, o);
    for (int trial = 0; trial < 30; ++trial) {
      Rect u;
      u.x = static_cast<int>(rng() % upright.width);
      u.y = static_cast<int>(rng() % upright.height);
      u.width = 1 + static_cast<int>(rng() % (upright.width - u.x));
      u.height = 1 + static_cast<int>(rng() % (upright.height - u.y));
      const Rect s = StoredRect(o, stored.width, stored.height, u);
      EXPECT_TRUE(SamePixels(Orient(Crop(stored, s.x, s.y, s.width, s.height), o),
                             Crop(upright, u.x, u.y, u.width, u.height)))
          << "orientation " << o;
    }
  }
}

TEST(ResampleTest, FlatImageStaysFlat) {
  Pixels in = Pixels::Make(640, 480, 3);
  std::fill(in.data.begin(), in.data.end(), 77);
  Pixels out = Resample(in, 97, 61);
  for (size_t i = 0; i < out.bytes(); ++i) ASSERT_EQ(out.data[i], 77) << i;
}

// ---- the pipeline on the corpus ----

TEST_F(TransformTest, EveryRealPhotoInEveryFitHasExactSizeAndDecodes) {
  for (const auto& path : kRealPhotos) {
    const std::string bytes = ReadCorpus(path);
    for (Fit fit : {Fit::kCover, Fit::kContain, Fit::kFill, Fit::kInside}) {
      TransformResult r = RunTransform(bytes, Size(320, 240, fit));
      MemorySource out(r.bytes);
      auto h = ReadJpegHeader(out).header;
      ASSERT_TRUE(h) << path;
      if (fit == Fit::kInside) {
        EXPECT_TRUE((h->width == 320 && h->height <= 240) || (h->height == 240 && h->width <= 320))
            << path << " " << h->width << "x" << h->height;
      } else {
        EXPECT_EQ(h->width, 320) << path << " " << FitName(fit);
        EXPECT_EQ(h->height, 240) << path << " " << FitName(fit);
      }
      EXPECT_EQ(r.width, h->width);
      Pixels p = Decode(r.bytes);
      EXPECT_EQ(p.width, h->width);
    }
  }
}

TEST_F(TransformTest, VariantsCarryNoMetadata) {
  for (const std::string path :
       {"variants/v27_metadata_big_exif_gps_xmp_iptc.jpg",
        "real/real_04_colorfulcups_2560x1600.jpg", "variants/v23_icc_display_p3.jpg",
        "variants/v28_trailing_garbage_4k_after_eoi.jpg"}) {
    const std::string bytes = ReadCorpus(path);
    TransformResult r = RunTransform(bytes, Size(400, 0));
    EXPECT_EQ(r.bytes.find("CORPUS-PRIVATE"), std::string::npos) << path;
    EXPECT_EQ(r.bytes.find("TRAILING-GARBAGE"), std::string::npos) << path;
    EXPECT_EQ(r.bytes.find("Exif"), std::string::npos) << path;
    EXPECT_EQ(r.bytes.find("ICC_PROFILE"), std::string::npos) << path;
    EXPECT_EQ(r.bytes.find("http://ns.adobe.com"), std::string::npos) << path;  // XMP
    EXPECT_EQ(r.bytes.find("Photoshop"), std::string::npos) << path;            // IPTC
    MemorySource out(r.bytes);
    auto info = ReadJpegInfo(out);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->orientation, 1);
    EXPECT_TRUE(info->icc.empty());
  }
}

TEST_F(TransformTest, OrientationIsAppliedBeforeSizing) {
  const std::string upright_v41 = ReadCorpus("variants/v41_orientation_1.jpg");
  for (int o = 0; o <= 9; ++o) {
    const std::string file =
        o == 0   ? "variants/v49_orientation_0_invalid.jpg"
        : o == 9 ? "variants/v50_orientation_9_invalid.jpg"
                 : "variants/v4" + std::to_string(o) + "_orientation_" + std::to_string(o) + ".jpg";
    const std::string bytes = ReadCorpus(file);
    TransformResult r = RunTransform(bytes, Size(200, 200, Fit::kInside));
    const bool swapped = o >= 5 && o <= 8;
    EXPECT_EQ(r.width, swapped ? 133 : 200) << file;
    EXPECT_EQ(r.height, swapped ? 200 : 133) << file;
    Pixels ours = Decode(r.bytes);
    Pixels ref = VipsThumbnail(bytes, 200, 200);  // libvips autorotates
    ASSERT_EQ(ref.width, ours.width) << file;
    EXPECT_LT(GreyMad(ours, ref), 3.0) << file;
    if (o == 0 || o == 9) {  // invalid values read as 1: the stored picture, upright
      EXPECT_LT(
          GreyMad(ours, Decode(RunTransform(upright_v41, Size(200, 200, Fit::kInside)).bytes)),
          1.0);
    }
    MemorySource out(r.bytes);
    EXPECT_EQ(ReadJpegInfo(out)->orientation, 1);
  }
}

TEST_F(TransformTest, CmykAndIccProfilesBecomeSrgb) {
  // The same picture stored in sRGB (4:4:4 q90) is the truth for every colour variant.
  const Pixels truth =
      Decode(RunTransform(ReadCorpus("variants/v03_chroma444_q90.jpg"), Size(256, 0)).bytes);
  const auto want = MeanRgb(truth);
  for (const std::string path :
       {"variants/v10_cmyk_adobe_app14_with_icc.jpg", "variants/v11_cmyk_adobe_app14_no_icc.jpg",
        "variants/v12_ycck_adobe_app14.jpg", "variants/v23_icc_display_p3.jpg",
        "variants/v24_icc_adobe_rgb_1998.jpg", "variants/v25_icc_swapped_red_green.jpg",
        "variants/v26_icc_large_multichunk_430k.jpg"}) {
    const std::string bytes = ReadCorpus(path);
    TransformResult r = RunTransform(bytes, Size(256, 0));
    const auto got = MeanRgb(Decode(r.bytes));
    // libvips' own conversion of the same file, as the reference the issue names.
    const auto ref = MeanRgb(VipsThumbnail(bytes, 256, 100000, true));
    // A round trip through CMYK loses some gamut; RGB profiles convert back closely.
    const double tolerance =
        path.find("cmyk") != std::string::npos || path.find("ycck") != std::string::npos ? 12.0
                                                                                         : 6.0;
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(got[c], ref[c], 3.0) << path << " channel " << c;
      EXPECT_NEAR(got[c], want[c], tolerance) << path << " channel " << c;
    }
  }
  // Ignoring v25's profile would swap red and green: the bee would turn green.
  const auto bee = MeanRgb(Decode(
      RunTransform(ReadCorpus("variants/v25_icc_swapped_red_green.jpg"), Size(256, 0)).bytes));
  EXPECT_GT(bee[0] - bee[1], (want[0] - want[1]) / 2) << "red/green swapped";
}

// libvips at its most careful: a full-resolution decode, then one Lanczos-3 resize (no
// shrink-on-load), to exactly w x h.
Pixels VipsFullResize(const std::string& jpeg, int w, int h) {
  VipsImage* in = nullptr;
  EXPECT_EQ(vips_jpegload_buffer(const_cast<char*>(jpeg.data()), jpeg.size(), &in, nullptr), 0);
  VipsImage* out = nullptr;
  EXPECT_EQ(vips_resize(in, &out, static_cast<double>(w) / in->Xsize, "vscale",
                        static_cast<double>(h) / in->Ysize, "gap", 0.0, nullptr),
            0);
  g_object_unref(in);
  return FromVips(out);
}

TEST_F(TransformTest, FastPathMatchesLibvipsAtThreeSizes) {
  for (const auto& path : kRealPhotos) {
    const std::string bytes = ReadCorpus(path);
    MemorySource src(bytes);
    ASSERT_TRUE(UsesFastPath(*ReadJpegInfo(src))) << path;
    for (int w : {150, 400, 1000}) {
      TransformOptions o;
      Pixels ours = RenderJpeg(src, Size(w, 0), o);
      Pixels ref = VipsFullResize(bytes, ours.width, ours.height);
      const double psnr = Psnr(ours, ref);
      std::printf("%s w=%d PSNR %.1f dB\n", path.c_str(), w, psnr);
      EXPECT_GT(psnr, 38.0) << path << " w=" << w;
      RecordProperty(path + "_w" + std::to_string(w), std::to_string(psnr));
    }
  }
}

// A progressive file decoded at 1/8 is fed only its DC scans, unless a component is
// subsampled both ways (libjpeg then decodes it with a 2x2 IDCT that reads AC terms too):
// the pixels must equal a full 1/8 decode (libvips' jpegload shrink=8 reads every scan).
TEST_F(TransformTest, DcOnlyDecodeEqualsFullEighthDecode) {
  for (const std::string path :
       {"real/real_08_sunset_4272x2848.jpg", "real/real_02_honeybee_1620x1280.jpg",
        "variants/v17_progressive_restart2.jpg"}) {
    const std::string bytes = ReadCorpus(path);
    MemorySource src(bytes);
    auto info = ReadJpegInfo(src);
    ASSERT_TRUE(info && info->frame.progressive) << path;
    Pixels dc = DecodeJpegFast(src, *info, 1, 1, Deadline{});
    ASSERT_EQ(dc.width, (info->frame.width + 7) / 8) << path;
    VipsImage* img = nullptr;
    ASSERT_EQ(vips_jpegload_buffer(const_cast<char*>(bytes.data()), bytes.size(), &img, "shrink", 8,
                                   nullptr),
              0);
    Pixels full = FromVips(img);
    Pixels a = Crop(dc, 0, 0, full.width - 1, full.height - 1);
    Pixels b = Crop(full, 0, 0, full.width - 1, full.height - 1);
    const double psnr = Psnr(a, b);
    std::printf("%s DC-only vs full 1/8 decode: PSNR %.1f dB\n", path.c_str(), psnr);
    EXPECT_GT(psnr, 90.0) << path;  // identical
  }
}

TEST_F(TransformTest, SameInputSameBytes) {
  const std::string bytes = ReadCorpus("real/real_02_honeybee_1620x1280.jpg");
  TransformSpec s = Size(300, 300, Fit::kContain);
  s.progressive = true;
  EXPECT_EQ(RunTransform(bytes, s).bytes, RunTransform(bytes, s).bytes);
}

TEST_F(TransformTest, EveryAcceptedCorpusFileTransforms) {
  for (const auto& row : testing::Manifest()) {
    if (row.expected != "accept") continue;
    const std::string bytes = ReadCorpus(row.path);
    TransformResult r;
    ASSERT_NO_THROW(r = RunTransform(bytes, Size(160, 160))) << row.path;
    EXPECT_GT(r.bytes.size(), 100u) << row.path;
    ASSERT_NO_THROW(Decode(r.bytes)) << row.path;
  }
}

TEST_F(TransformTest, DeadlineStopsWork) {
  const std::string bytes = ReadCorpus("real/real_09_kleiber_6028x3391.jpg");
  for (DecodePath path : {DecodePath::kFast, DecodePath::kVips}) {
    MemorySource src(bytes);
    TransformOptions o;
    o.path = path;
    o.deadline = Deadline{std::chrono::steady_clock::now()};
    try {
      TransformJpeg(src, Size(3000, 0), o);
      ADD_FAILURE() << "no timeout";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    }
  }
}

}  // namespace
}  // namespace imgd

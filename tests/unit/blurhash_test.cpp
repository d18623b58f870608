// The placeholder: Wolt's reference encoder gives the same strings for
// the same 32x32 pictures, orientation turns it, and uploads of every colour layout get one.
#include "image/blurhash.h"

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <sstream>

#include "core/memory_source.h"
#include "image/jpeg_validate.h"

using namespace imgd;

namespace {

constexpr int N = CellAccumulator::kGrid;

struct Grid {
  float px[N][N][3];
};

Grid Gradient() {
  Grid g;
  for (int y = 0; y < N; ++y) {
    for (int x = 0; x < N; ++x) {
      g.px[y][x][0] = static_cast<float>(x * 8);
      g.px[y][x][1] = static_cast<float>(y * 8);
      g.px[y][x][2] = static_cast<float>((x + y) * 4);
    }
  }
  return g;
}

ValidatedJpeg Validate(const std::string& rel) {
  std::ifstream f(std::string(IMGD_CORPUS_DIR) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  MemorySource src(std::make_shared<const std::string>(ss.str()));
  return ValidateJpeg(src, JpegLimits{});
}

}  // namespace

// Expected strings: npm blurhash 2.0.5's encode() of the same pixels as 32x32 RGBA, with its
// largest-AC scan taking absolute values as Wolt's C reference does (the npm release takes
// the largest signed value; the other strings are identical either way).
TEST(BlurHash, MatchesTheReferenceEncoder) {
  const Grid g = Gradient();
  EXPECT_EQ(BlurHash(g.px, 1, 4, 3), "LxH2cg2kwzX5l?WGjue:gLfkfQfj");
  EXPECT_EQ(BlurHash(g.px, 1, 3, 4), "TxH2cg2kwzl?WGjugLfkfQnjWojt");
  Grid solid;
  for (auto& row : solid.px) {
    for (auto& p : row) p[0] = 200, p[1] = 100, p[2] = 50;
  }
  EXPECT_EQ(BlurHash(solid.px, 1, 4, 3), "L5M|T9}XfQ}X}XoKfQoKfQfQfQfQ");
}

TEST(BlurHash, OrientationTurnsThePicture) {
  const Grid g = Gradient();
  Grid stored;  // what a camera writes for orientation 6: g turned 90 degrees anticlockwise
  for (int y = 0; y < N; ++y) {
    for (int x = 0; x < N; ++x) {
      for (int c = 0; c < 3; ++c) stored.px[N - 1 - x][y][c] = g.px[y][x][c];
    }
  }
  EXPECT_EQ(BlurHash(stored.px, 6, 4, 3), BlurHash(g.px, 1, 4, 3));
  // Its shape follows the upright picture: 3x4 components ('T') for a portrait.
  EXPECT_EQ(BlurHashForPicture(g.px, 1, 1280, 800)[0], 'L');
  EXPECT_EQ(BlurHashForPicture(stored.px, 6, 1280, 800)[0], 'T');
}

TEST(BlurHash, EveryColourLayoutGetsOne) {
  for (const char* rel :
       {"real/real_01_skagen_800x533.jpg", "variants/v08_grayscale_q85.jpg",
        "variants/v10_cmyk_adobe_app14_with_icc.jpg", "variants/v11_cmyk_adobe_app14_no_icc.jpg",
        "variants/v12_ycck_adobe_app14.jpg", "variants/v09_rgb_components_no_ycc.jpg",
        "variants/v29_1x1.jpg", "variants/v30_panorama_10000x10.jpg"}) {
    EXPECT_EQ(Validate(rel).blurhash.size(), 28u) << rel;
  }
}

TEST(BlurHash, SamePixelsSamePlaceholderAndCmykLooksLikeItsRgb) {
  const std::string a = Validate("duplicates/dup_g1_a_cups.jpg").blurhash;
  EXPECT_EQ(Validate("duplicates/dup_g1_f_cups_lossless_progressive.jpg").blurhash, a);
  EXPECT_EQ(Validate("duplicates/dup_g1_j_cups_orientation6_tag.jpg").blurhash[0], 'T');
  // The CMYK and YCCK renderings of v01 have its average colour (the hash's characters
  // 2-5) within a few levels of the YCbCr original's.
  auto dc = [](const std::string& h) {
    static const std::string kDigits =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
    int v = 0;
    for (int i = 2; i < 6; ++i) v = v * 83 + static_cast<int>(kDigits.find(h[i]));
    return std::array<int, 3>{v >> 16, (v >> 8) & 255, v & 255};
  };
  const auto rgb = dc(Validate("variants/v01_baseline_q85_420.jpg").blurhash);
  for (const char* rel :
       {"variants/v11_cmyk_adobe_app14_no_icc.jpg", "variants/v12_ycck_adobe_app14.jpg"}) {
    const auto other = dc(Validate(rel).blurhash);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(other[c], rgb[c], 24) << rel << " channel " << c;
  }
}

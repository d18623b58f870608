// How WebP's and AVIF's quality settings line up with JPEG's, and what each format costs:
// every corpus photo is rendered at a thumbnail and a page width by imgd's own pipeline,
// then encoded as JPEG at the q values clients use and as WebP and AVIF across their whole
// scale; each encoding is decoded again and compared with the rendered pixels by SSIM (on
// luma, 8x8 windows). For each JPEG q the table gives the WebP / AVIF quality of equal mean
// SSIM (what EncoderQuality in src/image/output_format.cpp uses), and the bytes and encode
// time each format then needs.
//
//   format-quality CORPUS_DIR [WIDTH ...]     (default widths: 400 1200)
//   format-quality CORPUS_DIR --avif-effort   (AVIF at q 75, 1200 px, effort 0..6)
#include <vips/vips.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/memory_source.h"
#include "image/jpeg_encode.h"
#include "image/output_format.h"
#include "image/transform.h"
#include "image/vips_decode.h"
#include "image/vips_encode.h"

using namespace imgd;

namespace {

std::vector<float> Luma(const uint8_t* p, int w, int h, int channels) {
  std::vector<float> y(static_cast<size_t>(w) * h);
  for (size_t i = 0; i < y.size(); ++i) {
    const uint8_t* px = p + i * channels;
    y[i] = channels == 1 ? px[0] : 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
  }
  return y;
}

// Mean SSIM over 8x8 windows (stride 4), the standard constants for 8-bit data.
double Ssim(const std::vector<float>& a, const std::vector<float>& b, int w, int h) {
  const double c1 = 6.5025, c2 = 58.5225;
  double sum = 0;
  int n = 0;
  for (int y = 0; y + 8 <= h; y += 4) {
    for (int x = 0; x + 8 <= w; x += 4) {
      double ma = 0, mb = 0;
      for (int j = 0; j < 8; ++j)
        for (int i = 0; i < 8; ++i) {
          ma += a[(y + j) * w + x + i];
          mb += b[(y + j) * w + x + i];
        }
      ma /= 64;
      mb /= 64;
      double va = 0, vb = 0, cov = 0;
      for (int j = 0; j < 8; ++j)
        for (int i = 0; i < 8; ++i) {
          const double da = a[(y + j) * w + x + i] - ma, db = b[(y + j) * w + x + i] - mb;
          va += da * da;
          vb += db * db;
          cov += da * db;
        }
      va /= 63;
      vb /= 63;
      cov /= 63;
      sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      ++n;
    }
  }
  return n ? sum / n : 1.0;
}

std::vector<float> DecodeLuma(const std::string& bytes, int w, int h) {
  VipsImage* im = vips_image_new_from_buffer(bytes.data(), bytes.size(), "", nullptr);
  if (!im) throw std::runtime_error(vips_error_buffer());
  VipsImage* srgb = nullptr;
  if (vips_colourspace(im, &srgb, VIPS_INTERPRETATION_sRGB, nullptr) != 0)
    throw std::runtime_error(vips_error_buffer());
  g_object_unref(im);
  size_t len = 0;
  void* mem = vips_image_write_to_memory(srgb, &len);
  const int bands = vips_image_get_bands(srgb);
  if (vips_image_get_width(srgb) != w || vips_image_get_height(srgb) != h)
    throw std::runtime_error("decoded size differs");
  auto y = Luma(static_cast<const uint8_t*>(mem), w, h, bands);
  g_free(mem);
  g_object_unref(srgb);
  return y;
}

struct Sample {
  double ssim = 0, bytes = 0, ms = 0;
  int n = 0;
  void Add(double s, double b, double t) {
    ssim += s;
    bytes += b;
    ms += t;
    ++n;
  }
};

std::vector<Pixels> Photos(const std::string& corpus, int width) {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(corpus + "/real")) {
    if (e.path().extension() == ".jpg") paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<Pixels> out;
  for (const auto& path : paths) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    MemorySource src(ss.str());
    TransformSpec spec;
    spec.width = width;
    out.push_back(RenderJpeg(src, spec, {}));
  }
  return out;
}

// The speed setting: bytes, SSIM and time at one quality as the effort grows.
int EffortTable(const std::string& corpus) {
  const auto photos = Photos(corpus, 1200);
  std::printf(
      "| AVIF effort | mean KB | mean SSIM | mean encode ms |\n| --- | --- | --- | --- |\n");
  for (int effort = 0; effort <= 6; ++effort) {
    Sample s;
    for (const Pixels& px : photos) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::string out = EncodeAvif(px, 75, {}, effort);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      s.Add(Ssim(Luma(px.data.data(), px.width, px.height, px.channels),
                 DecodeLuma(out, px.width, px.height), px.width, px.height),
            static_cast<double>(out.size()), ms);
    }
    std::printf("| %d | %.1f | %.4f | %.0f |\n", effort, s.bytes / s.n / 1024, s.ssim / s.n,
                s.ms / s.n);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [WIDTH ...]\n", argv[0]);
    return 2;
  }
  VipsStartup(argv[0]);
  if (argc > 2 && std::string(argv[2]) == "--avif-effort") return EffortTable(argv[1]);
  std::vector<int> widths;
  for (int i = 2; i < argc; ++i) widths.push_back(std::atoi(argv[i]));
  if (widths.empty()) widths = {400, 1200};
  const int jpeg_qs[] = {30, 50, 70, 80, 90};
  for (int width : widths) {
    std::map<std::pair<int, int>, Sample> s;  // (format, q) -> sums
    const auto photos = Photos(argv[1], width);
    for (const Pixels& px : photos) {
      const auto ref = Luma(px.data.data(), px.width, px.height, px.channels);
      auto run = [&](OutputFormat fmt, int q) {
        const auto t0 = std::chrono::steady_clock::now();
        std::string out = fmt == OutputFormat::kJpeg   ? EncodeJpeg(px, q, false)
                          : fmt == OutputFormat::kWebp ? EncodeWebp(px, q)
                                                       : EncodeAvif(px, q);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        s[{static_cast<int>(fmt), q}].Add(
            Ssim(ref, DecodeLuma(out, px.width, px.height), px.width, px.height),
            static_cast<double>(out.size()), ms);
      };
      for (int q : jpeg_qs) run(OutputFormat::kJpeg, q);
      for (int q = 10; q <= 100; q += 5) {
        run(OutputFormat::kWebp, q);
        run(OutputFormat::kAvif, q);
      }
    }
    std::printf("\n## width %d (%zu photos; mean over photos)\n\n", width, photos.size());
    std::printf(
        "| JPEG q | JPEG SSIM | JPEG KB | WebP q | WebP KB | WebP vs JPEG | AVIF q | "
        "AVIF KB | AVIF vs JPEG | encode ms JPEG / WebP / AVIF |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (int jq : jpeg_qs) {
      const Sample& j = s[{0, jq}];
      const double target = j.ssim / j.n;
      // The lowest encoder q whose mean SSIM reaches JPEG's.
      auto match = [&](int fmt) {
        for (int q = 10; q <= 100; q += 5) {
          const Sample& x = s[{fmt, q}];
          if (x.ssim / x.n >= target) return q;
        }
        return 100;
      };
      const int wq = match(1), aq = match(2);
      const Sample& w = s[{1, wq}];
      const Sample& a = s[{2, aq}];
      std::printf(
          "| %d | %.4f | %.1f | %d | %.1f | %+.0f%% | %d | %.1f | %+.0f%% | %.1f / %.1f / %.1f |\n",
          jq, target, j.bytes / j.n / 1024, wq, w.bytes / w.n / 1024, 100 * (w.bytes / j.bytes - 1),
          aq, a.bytes / a.n / 1024, 100 * (a.bytes / j.bytes - 1), j.ms / j.n, w.ms / w.n,
          a.ms / a.n);
    }
    std::printf("\nSSIM by encoder q (WebP / AVIF):");
    for (int q = 10; q <= 100; q += 10) {
      std::printf(" q%d %.4f/%.4f", q, s[{1, q}].ssim / s[{1, q}].n, s[{2, q}].ssim / s[{2, q}].n);
    }
    std::printf("\n");
  }
  return 0;
}

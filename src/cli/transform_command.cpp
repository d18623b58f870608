#include "cli/transform_command.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <vector>

#include "core/errors.h"
#include "core/memory_source.h"
#include "image/jpeg_validate.h"
#include "image/transform.h"

namespace imgd::cli {

void AddTransformFlags(CLI::App* cmd, TransformArgs& a) {
  cmd->add_option("file", a.input, "input JPEG")->required();
  cmd->add_option("-o,--output", a.output, "output JPEG")->required();
  cmd->add_option("--w", a.spec.width, "width (0 = from height)")->check(CLI::Range(0, 8192));
  cmd->add_option("--h", a.spec.height, "height (0 = from width)")->check(CLI::Range(0, 8192));
  cmd->add_option("--fit", a.fit, "cover | contain | fill | inside");
  cmd->add_option("--q", a.spec.quality, "JPEG quality 1-100")->check(CLI::Range(1, 100));
  cmd->add_flag("--enlarge", a.spec.enlarge, "allow upscaling");
  cmd->add_flag("--progressive", a.spec.progressive, "progressive output");
  cmd->add_option("--bg", a.background, "contain background, RRGGBB");
  cmd->add_option("--path", a.path, "decoder: auto | fast | vips")
      ->check(CLI::IsMember({"auto", "fast", "vips"}));
  cmd->add_option("--repeat", a.repeat, "run N times and report the median time")
      ->check(CLI::Range(1, 100000));
}

int RunTransform(const TransformArgs& a, const Config& cfg) {
  std::ifstream in(a.input, std::ios::binary);
  if (!in) {
    std::cerr << "imgd transform: cannot read " << a.input << std::endl;
    return 1;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  MemorySource src(std::move(bytes));
  JpegLimits limits;
  limits.max_pixels = cfg.max_pixels;
  limits.max_decode_memory = cfg.max_decode_memory;
  ValidateJpeg(src, limits);
  TransformSpec spec = a.spec;
  auto fit = ParseFit(a.fit);
  if (!fit) throw BadRequest("--fit must be one of cover, contain, fill, inside");
  spec.fit = *fit;
  TransformLimits tl;
  if (!a.background.empty()) {
    auto background = ParseHexColour(a.background);
    if (!background) throw BadRequest("--bg must be 6 hex digits (RRGGBB)");
    spec.background = *background;
  }
  CheckTransformSpec(spec, tl, "--w", "--h");
  TransformOptions opts;
  opts.path = a.path == "fast"   ? DecodePath::kFast
              : a.path == "vips" ? DecodePath::kVips
                                 : DecodePath::kAuto;
  TransformResult r;
  std::vector<double> ms;
  for (int i = 0; i < std::max(1, a.repeat); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    r = TransformJpeg(src, spec, opts);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::ofstream out(a.output, std::ios::binary);
  out.write(r.bytes.data(), static_cast<std::streamsize>(r.bytes.size()));
  if (!out.flush()) {
    std::cerr << "imgd transform: cannot write " << a.output << std::endl;
    return 1;
  }
  std::sort(ms.begin(), ms.end());
  std::cout << r.width << "x" << r.height << " " << r.bytes.size() << " bytes, path " << r.path
            << ", " << ms[ms.size() / 2] << " ms (median of " << ms.size() << ")" << std::endl;
  return 0;
}

}  // namespace imgd::cli

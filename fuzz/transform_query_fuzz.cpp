// Variant parameters from a query string: "k=v&k=v" pairs (first value of each key, as the
// router keeps them), then the checks and the geometry plan for a source size taken from
// the input. Refusals are ApiErrors.
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/errors.h"
#include "image/transform_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const int width = 1 + (data[0] << 8 | data[1]) % 20000;
  const int height = 1 + (data[2] << 8 | data[3]) % 20000;
  std::string_view q(reinterpret_cast<const char*>(data + 4), size - 4);
  std::map<std::string, std::string> query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    size_t eq = pair.find('=');
    query.emplace(std::string(pair.substr(0, eq)),
                  eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
  }
  imgd::TransformLimits limits;
  try {
    if (!imgd::HasTransformParams(query)) return 0;
    imgd::TransformSpec spec = imgd::ParseTransformQuery(query, limits);
    imgd::CheckTransformSpec(spec, limits);
    imgd::TransformGeometry g = imgd::PlanTransform(width, height, spec);
    // A plan always has pixels, and the crop window lies inside the resampled image.
    if (g.canvas_width <= 0 || g.canvas_height <= 0) __builtin_trap();
    if (g.crop_x < 0 || g.crop_y < 0 || g.crop_x + g.crop_width > g.scaled_width ||
        g.crop_y + g.crop_height > g.scaled_height) {
      __builtin_trap();
    }
  } catch (const imgd::Error&) {
  }
  // The operator's --allowed-sizes list: refusals are std::invalid_argument (a config error).
  try {
    (void)imgd::ParseSizeList(std::string(reinterpret_cast<const char*>(data + 4), size - 4));
  } catch (const std::invalid_argument&) {
  }
  return 0;
}

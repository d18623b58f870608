#pragma once
// What a client asks a variant to be (size, fit, quality...), validated against the
// server's limits, and the geometry that follows from it for a given original. Pure
// functions: cheap, fuzzable, testable without a server.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "image/output_format.h"

namespace imgd {

enum class Fit { kCover, kContain, kFill, kInside };

const char* FitName(Fit f);
std::optional<Fit> ParseFit(std::string_view s);

struct TransformSpec {
  int width = 0;   // 0 = follows from height, keeping the aspect ratio
  int height = 0;  // 0 = follows from width
  Fit fit = Fit::kCover;
  int quality = 80;
  bool enlarge = false;
  bool progressive = false;
  uint32_t background = 0xFFFFFF;             // RGB, used by fit=contain
  OutputFormat format = OutputFormat::kJpeg;  // progressive applies to JPEG only

  // The normalised parameters as a key fragment, e.g. "w300-h200-cover-q80". Two specs that
  // must produce the same pixels have the same string; only [a-z0-9-] is used.
  std::string Canonical() const;
  // The same, appended to out (the warm path builds keys and ETags in reused buffers).
  void AppendCanonical(std::string& out) const;
  // The query parameters that ask for this spec ({w: 300, h: 200, fit: cover, q: 80}).
  std::map<std::string, std::string> QueryParams() const;
};

struct TransformLimits {
  int max_dimension = 8192;
  uint64_t max_output_pixels = 40'000'000;
  // AVIF variants are smaller still: AV1 encoding is far slower per pixel (see
  // CheckTransformCost).
  uint64_t max_avif_pixels = 4'000'000;
  // Allowed {width, height} pairs (0 = free side). Enforced only when only_allowed_sizes.
  std::vector<std::pair<int, int>> allowed_sizes;
  bool only_allowed_sizes = false;
  uint32_t default_background = 0xFFFFFF;
  // Predicted peak memory one transform may need (decode, resample, canvas, encode);
  // a variant that would need more is refused with 400 before anything is allocated.
  uint64_t max_request_memory = 1ull << 30;
};

// "RRGGBB" or "#RRGGBB" → 0xRRGGBB; nullopt when malformed.
std::optional<uint32_t> ParseHexColour(std::string_view s);

// "300x200,1200x,x800" → {{300,200},{1200,0},{0,800}}; throws std::invalid_argument.
std::vector<std::pair<int, int>> ParseSizeList(const std::string& s);

// True when the query asks for a variant at all (w, h, fit, q... present).
bool HasTransformParams(const std::map<std::string, std::string>& query);

// Query parameters as views into a request target, in the order they came; a name's first
// value counts. The warm read parses into these without copying.
using QueryView = std::span<const std::pair<std::string_view, std::string_view>>;

// Builds a spec from query parameters w, h, fit, q, enlarge, progressive, bg. Unknown
// parameters, malformed or out-of-range values and sizes outside the allowed list throw
// Error 400 naming the parameter.
TransformSpec ParseTransformQuery(const std::map<std::string, std::string>& query,
                                  const TransformLimits& limits);
// The same rules over views; names are checked in the order given.
TransformSpec ParseTransformParams(QueryView query, const TransformLimits& limits);

// Checks a spec built elsewhere (the transform JSON body); throws Error 400 naming
// `width_name` / `height_name` / the other fields.
void CheckTransformSpec(const TransformSpec& spec, const TransformLimits& limits,
                        const char* width_name = "w", const char* height_name = "h");

// Where the pixels go, all in the upright (EXIF-oriented) frame.
struct TransformGeometry {
  int scaled_width = 0, scaled_height = 0;  // the whole original resampled to this size
  int crop_x = 0, crop_y = 0;               // then this window of it is kept (cover)
  int crop_width = 0, crop_height = 0;
  int canvas_width = 0, canvas_height = 0;  // and placed on a canvas of this size
  int offset_x = 0, offset_y = 0;           // at this offset (contain letterboxing)
};

// Geometry for an upright original of width x height. Without enlarge, no side is scaled
// up: a box larger than the original shrinks to fit it, keeping the box's aspect ratio.
TransformGeometry PlanTransform(int width, int height, const TransformSpec& spec);

}  // namespace imgd

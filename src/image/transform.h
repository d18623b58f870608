#pragma once
// The transform pipeline, JPEG original → JPEG, WebP or AVIF variant:
//   read header (orientation, ICC) → plan geometry → decode at a reduced scale
//   (fast libjpeg-turbo path, or libvips for CMYK and non-sRGB profiles) → Lanczos-3
//   resample → apply orientation → crop / letterbox → encode without metadata
//   (libjpeg-turbo, or libvips' webpsave / heifsave).
// Blocking and CPU-heavy: run it on the transform pool. Deterministic: the same bytes and
// spec give the same output bytes.
#include <cstdint>
#include <string>

#include "core/byte_source.h"
#include "image/deadline.h"
#include "image/jpeg_info.h"
#include "image/pixels.h"
#include "image/transform_spec.h"

namespace imgd {

// Bumped whenever the pipeline's output for a given input and spec may change; part of
// every variant's key so old variants are never served for new code.
inline constexpr int kPipelineVersion = 1;

enum class DecodePath { kAuto, kFast, kVips };

struct TransformOptions {
  Deadline deadline;
  DecodePath path = DecodePath::kAuto;  // kFast falls back to libvips where it cannot apply
};

struct TransformResult {
  std::string bytes;  // encoded as format
  OutputFormat format = OutputFormat::kJpeg;
  int width = 0;
  int height = 0;
  const char* path = "";  // "fast" or "vips"
};

// Throws Error 422 for bytes that cannot be decoded, 503 when the deadline passes (checked
// while decoding, in the resample's row loops and while encoding).
// `info` is ReadJpegInfo(original), for callers that already have it.
TransformResult TransformJpeg(ByteSource& original, const JpegInfo& info, const TransformSpec& spec,
                              const TransformOptions& options);
TransformResult TransformJpeg(ByteSource& original, const TransformSpec& spec,
                              const TransformOptions& options);

// The pipeline up to (not including) encoding. path receives "fast" or "vips".
Pixels RenderJpeg(ByteSource& original, const JpegInfo& info, const TransformSpec& spec,
                  const TransformOptions& options, const char** path = nullptr);
Pixels RenderJpeg(ByteSource& original, const TransformSpec& spec, const TransformOptions& options,
                  const char** path = nullptr);

// Where the pixels of an original go for a spec.
struct TransformPlan {
  TransformGeometry geo;                // in the upright frame
  int need_width = 0, need_height = 0;  // the resample target, in the stored (unrotated) frame
};
TransformPlan PlanFor(const JpegInfo& info, const TransformSpec& spec);

// Which decoder TransformJpeg uses for this original.
bool UsesFastPath(const JpegInfo& info);

// Predicted peak memory of TransformJpeg for this original and spec, in bytes, from the
// header alone (for admission control).
uint64_t PredictTransformMemory(const JpegInfo& info, const TransformSpec& spec);

// What the variant of this original would cost, checked against the limits before any
// pixel is decoded: the final size (whatever w, h, fit and enlarge asked for) over
// max_output_pixels → Error 400 "output-too-large"; the predicted peak memory over
// max_request_memory → Error 400 "transform-too-large". Returns the prediction.
uint64_t CheckTransformCost(const JpegInfo& info, const TransformSpec& spec,
                            const TransformLimits& limits);

}  // namespace imgd

#include "image/transform.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "core/errors.h"
#include "image/jpeg_encode.h"
#include "image/jpeg_fast_decode.h"
#include "image/resample.h"
#include "image/vips_decode.h"
#include "image/vips_encode.h"

namespace imgd {
namespace {

JpegInfo ReadInfo(ByteSource& original) {
  auto info = ReadJpegInfo(original);
  if (!info) throw Unprocessable("the original is not a decodable JPEG");
  return std::move(*info);
}

}  // namespace

TransformPlan PlanFor(const JpegInfo& info, const TransformSpec& spec) {
  const bool swap = OrientationSwapsAxes(info.orientation);
  TransformPlan p;
  p.geo = PlanTransform(swap ? info.frame.height : info.frame.width,
                        swap ? info.frame.width : info.frame.height, spec);
  p.need_width = swap ? p.geo.scaled_height : p.geo.scaled_width;
  p.need_height = swap ? p.geo.scaled_width : p.geo.scaled_height;
  return p;
}

bool UsesFastPath(const JpegInfo& info) {
  return CanDecodeFast(info) && (info.icc.empty() || IsSrgbProfile(info.icc));
}

Pixels RenderJpeg(ByteSource& original, const JpegInfo& info, const TransformSpec& spec,
                  const TransformOptions& options, const char** path) {
  const TransformPlan p = PlanFor(info, spec);
  bool fast = options.path == DecodePath::kAuto
                  ? UsesFastPath(info)
                  : options.path == DecodePath::kFast && CanDecodeFast(info);
  if (path) *path = fast ? "fast" : "vips";
  Pixels px = fast ? DecodeJpegFast(original, info, p.need_width, p.need_height, options.deadline)
                   : DecodeJpegVips(original, info, p.need_width, p.need_height, options.deadline);
  // Only the window a crop keeps is resampled (fit=cover): in the stored frame, before the
  // orientation is applied to the small result.
  const TransformGeometry& g = p.geo;
  const Rect keep = StoredRect(info.orientation, p.need_width, p.need_height,
                               {g.crop_x, g.crop_y, g.crop_width, g.crop_height});
  if (px.width != p.need_width || px.height != p.need_height) {
    px = ResampleWindow(px, p.need_width, p.need_height, keep, options.deadline);
  } else {
    px = Crop(std::move(px), keep.x, keep.y, keep.width, keep.height);
  }
  px = Orient(std::move(px), info.orientation);
  if (g.canvas_width != px.width || g.canvas_height != px.height) {
    px = Embed(px, g.canvas_width, g.canvas_height, g.offset_x, g.offset_y, spec.background);
  }
  return px;
}

Pixels RenderJpeg(ByteSource& original, const TransformSpec& spec, const TransformOptions& options,
                  const char** path) {
  return RenderJpeg(original, ReadInfo(original), spec, options, path);
}

TransformResult TransformJpeg(ByteSource& original, const JpegInfo& info, const TransformSpec& spec,
                              const TransformOptions& options) {
  TransformResult r;
  Pixels px = RenderJpeg(original, info, spec, options, &r.path);
  r.width = px.width;
  r.height = px.height;
  r.format = spec.format;
  switch (spec.format) {
    case OutputFormat::kJpeg:
      r.bytes = EncodeJpeg(px, spec.quality, spec.progressive, options.deadline);
      break;
    case OutputFormat::kWebp:
      r.bytes = EncodeWebp(px, EncoderQuality(spec.format, spec.quality), options.deadline);
      break;
    case OutputFormat::kAvif:
      r.bytes = EncodeAvif(px, EncoderQuality(spec.format, spec.quality), options.deadline);
      break;
  }
  return r;
}

TransformResult TransformJpeg(ByteSource& original, const TransformSpec& spec,
                              const TransformOptions& options) {
  return TransformJpeg(original, ReadInfo(original), spec, options);
}

uint64_t PredictTransformMemory(const JpegInfo& info, const TransformSpec& spec) {
  const int W = info.frame.width, H = info.frame.height;
  const TransformPlan p = PlanFor(info, spec);
  const TransformGeometry& g = p.geo;
  // What is resampled: the crop's window (cover), else the whole scaled image; its height
  // in the stored frame is what the vertical pass makes.
  const uint64_t need_w = static_cast<uint64_t>(g.crop_width);
  const uint64_t need_h = static_cast<uint64_t>(g.crop_height);
  const uint64_t stored_h = OrientationSwapsAxes(info.orientation) ? need_w : need_h;
  const int m = FastDecodeScale(W, H, p.need_width, p.need_height);
  const uint64_t dw = (static_cast<uint64_t>(W) * m + 7) / 8;
  const uint64_t dh = (static_cast<uint64_t>(H) * m + 7) / 8;
  const uint64_t ch = info.frame.components == 1 ? 1 : 3;
  uint64_t bytes = dw * dh * ch                // decoded
                   + dw * stored_h * ch        // after the vertical pass
                   + need_w * need_h * ch * 2  // resampled, oriented
                   + static_cast<uint64_t>(g.canvas_width) * g.canvas_height * ch * 2;  // crop,
                                                                                        // canvas
  // A progressive scan at more than 1/8 keeps every coefficient of the image (2 bytes each).
  if (info.frame.progressive && m > 1) {
    bytes += static_cast<uint64_t>(W) * H * 2 * std::max(1, info.frame.components);
  }
  if (!UsesFastPath(info)) bytes += dw * dh * 4 * 2;  // libvips' own buffers and the copy
  // The AV1 encoder's frame buffers, lookahead and analysis (libaom at imgd's effort).
  if (spec.format == OutputFormat::kAvif) {
    bytes += static_cast<uint64_t>(g.canvas_width) * g.canvas_height * 16;
  }
  // The encoded output: libjpeg's growing buffer, then the string it is copied to.
  bytes += static_cast<uint64_t>(g.canvas_width) * g.canvas_height * ch;
  return bytes + (8u << 20);  // codec tables, row buffers
}

uint64_t CheckTransformCost(const JpegInfo& info, const TransformSpec& spec,
                            const TransformLimits& limits) {
  const TransformGeometry g = PlanFor(info, spec).geo;
  const uint64_t out_pixels = static_cast<uint64_t>(g.canvas_width) * g.canvas_height;
  // AV1 encoding costs far more CPU per pixel than JPEG or WebP, and cannot be interrupted
  // once started: its size is what bounds its time.
  if (spec.format == OutputFormat::kAvif && out_pixels > limits.max_avif_pixels) {
    throw Error(ErrorCode::kInvalidArgument, "output-too-large",
                fmt::format("an AVIF variant of {}x{} ({} pixels) is over the limit of {} "
                            "pixels for AVIF; ask for a smaller size, or format=webp",
                            g.canvas_width, g.canvas_height, out_pixels, limits.max_avif_pixels),
                {{"parameter", "format"},
                 {"width", g.canvas_width},
                 {"height", g.canvas_height},
                 {"limit", limits.max_avif_pixels}});
  }
  if (out_pixels > limits.max_output_pixels) {
    throw Error(ErrorCode::kInvalidArgument, "output-too-large",
                fmt::format("the variant would be {}x{} ({} pixels), over the limit of {} "
                            "output pixels; ask for a smaller w or h, or leave enlarge off",
                            g.canvas_width, g.canvas_height, out_pixels, limits.max_output_pixels),
                {{"width", g.canvas_width},
                 {"height", g.canvas_height},
                 {"limit", limits.max_output_pixels}});
  }
  const uint64_t bytes = PredictTransformMemory(info, spec);
  if (bytes > limits.max_request_memory) {
    throw Error(ErrorCode::kInvalidArgument, "transform-too-large",
                fmt::format("making this variant would need about {} MiB of memory, over the "
                            "per-request limit of {} MiB; ask for a smaller size",
                            bytes >> 20, limits.max_request_memory >> 20),
                {{"predictedBytes", bytes}, {"limit", limits.max_request_memory}});
  }
  return bytes;
}

}  // namespace imgd

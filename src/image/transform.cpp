#include "image/transform.h"

#include <algorithm>
#include <utility>

#include "core/errors.h"
#include "image/jpeg_encode.h"
#include "image/jpeg_fast_decode.h"
#include "image/resample.h"
#include "image/vips_decode.h"

namespace imgd {
namespace {

struct Plan {
  JpegInfo info;
  TransformGeometry geo;
  int need_width = 0, need_height = 0;  // resample target, in the stored (unrotated) frame
};

Plan MakePlan(ByteSource& original, const TransformSpec& spec) {
  auto info = ReadJpegInfo(original);
  if (!info) throw Unprocessable("the original is not a decodable JPEG");
  Plan p;
  p.info = std::move(*info);
  const bool swap = OrientationSwapsAxes(p.info.orientation);
  const int upright_w = swap ? p.info.frame.height : p.info.frame.width;
  const int upright_h = swap ? p.info.frame.width : p.info.frame.height;
  p.geo = PlanTransform(upright_w, upright_h, spec);
  p.need_width = swap ? p.geo.scaled_height : p.geo.scaled_width;
  p.need_height = swap ? p.geo.scaled_width : p.geo.scaled_height;
  return p;
}

}  // namespace

bool UsesFastPath(const JpegInfo& info) {
  return CanDecodeFast(info) && (info.icc.empty() || IsSrgbProfile(info.icc));
}

Pixels RenderJpeg(ByteSource& original, const TransformSpec& spec, const TransformOptions& options,
                  const char** path) {
  Plan p = MakePlan(original, spec);
  bool fast = options.path == DecodePath::kAuto
                  ? UsesFastPath(p.info)
                  : options.path == DecodePath::kFast && CanDecodeFast(p.info);
  if (path) *path = fast ? "fast" : "vips";
  Pixels px = fast
                  ? DecodeJpegFast(original, p.info, p.need_width, p.need_height, options.deadline)
                  : DecodeJpegVips(original, p.info, p.need_width, p.need_height, options.deadline);
  px = Resample(px, p.need_width, p.need_height);
  if (options.deadline.Passed()) {
    throw Unavailable("the transform took longer than its time limit", 1);
  }
  px = Orient(std::move(px), p.info.orientation);
  const TransformGeometry& g = p.geo;
  px = Crop(std::move(px), g.crop_x, g.crop_y, g.crop_width, g.crop_height);
  if (g.canvas_width != px.width || g.canvas_height != px.height) {
    px = Embed(px, g.canvas_width, g.canvas_height, g.offset_x, g.offset_y, spec.background);
  }
  return px;
}

TransformResult TransformJpeg(ByteSource& original, const TransformSpec& spec,
                              const TransformOptions& options) {
  TransformResult r;
  Pixels px = RenderJpeg(original, spec, options, &r.path);
  r.width = px.width;
  r.height = px.height;
  r.jpeg = EncodeJpeg(px, spec.quality, spec.progressive);
  return r;
}

uint64_t PredictTransformMemory(const JpegInfo& info, const TransformSpec& spec) {
  const bool swap = OrientationSwapsAxes(info.orientation);
  const int W = info.frame.width, H = info.frame.height;
  TransformGeometry g = PlanTransform(swap ? H : W, swap ? W : H, spec);
  const uint64_t need_w = static_cast<uint64_t>(swap ? g.scaled_height : g.scaled_width);
  const uint64_t need_h = static_cast<uint64_t>(swap ? g.scaled_width : g.scaled_height);
  const int m = FastDecodeScale(W, H, static_cast<int>(need_w), static_cast<int>(need_h));
  const uint64_t dw = (static_cast<uint64_t>(W) * m + 7) / 8;
  const uint64_t dh = (static_cast<uint64_t>(H) * m + 7) / 8;
  const uint64_t ch = info.frame.components == 1 ? 1 : 3;
  uint64_t bytes = dw * dh * ch                // decoded
                   + dw * need_h * ch          // after the vertical pass
                   + need_w * need_h * ch * 2  // resampled, oriented
                   + static_cast<uint64_t>(g.canvas_width) * g.canvas_height * ch * 2;  // crop,
                                                                                        // canvas
  // A progressive scan at more than 1/8 keeps every coefficient of the image (2 bytes each).
  if (info.frame.progressive && m > 1) {
    bytes += static_cast<uint64_t>(W) * H * 2 * std::max(1, info.frame.components);
  }
  if (!UsesFastPath(info)) bytes += dw * dh * 4 * 2;  // libvips' own buffers and the copy
  return bytes + (8u << 20);  // codec tables, row buffers, the encoded output
}

}  // namespace imgd

#include "image/jpeg_validate.h"

#include <fmt/format.h>

#include <memory>

#include "core/errors.h"
#include "image/blurhash.h"
#include "image/jpeg_decode_check.h"
#include "image/jpeg_info.h"
#include "image/perceptual_hash.h"

namespace imgd {

ValidatedJpeg ValidateJpeg(ByteSource& src, const JpegLimits& limits) {
  if (!HasJpegSignature(src)) {
    throw Error(ErrorCode::kUnsupportedFormat, "not-jpeg",
                "the data is not a JPEG image (no FF D8 FF signature); only JPEG is accepted");
  }
  JpegHeaderResult hr = ReadJpegHeader(src);
  if (!hr.header) throw Unprocessable("malformed JPEG: " + hr.error, "malformed-jpeg");
  const JpegHeader& h = *hr.header;
  uint64_t pixels = static_cast<uint64_t>(h.width) * static_cast<uint64_t>(h.height);
  if (pixels > limits.max_pixels) {
    throw Unprocessable(fmt::format("image is {}x{} ({} pixels), over the limit of {} pixels",
                                    h.width, h.height, pixels, limits.max_pixels),
                        "too-many-pixels");
  }
  DecodeCheckLimits dl;
  dl.max_memory = limits.max_decode_memory;
  dl.max_scans = limits.max_scans;
  dl.max_passes = limits.max_passes;
  dl.deadline = Deadline::In(limits.decode_timeout);
  // Heap: 36 KB of sums, and libjpeg's frames are deep enough already.
  auto cells = std::make_unique<CellAccumulator>();
  DecodeCheckResult dr = DecodeCheckJpeg(src, dl, cells.get());
  switch (dr.failure) {
    case DecodeCheckResult::Failure::kNone:
      break;
    case DecodeCheckResult::Failure::kTooManyScans:
    case DecodeCheckResult::Failure::kTooMuchWork:
      throw Unprocessable("JPEG has " + dr.error, "too-many-scans");
    case DecodeCheckResult::Failure::kTimedOut:
      throw Unprocessable("JPEG " + dr.error, "decode-timeout");
    case DecodeCheckResult::Failure::kBadData:
      throw Unprocessable("JPEG data cannot be decoded: " + dr.error, "undecodable-jpeg");
  }
  ValidatedJpeg v{h, std::nullopt, ""};
  constexpr int N = CellAccumulator::kGrid;
  auto info = ReadJpegInfo(src);
  const int orientation = info ? info->orientation : 1;
  float luma[N][N];
  if (cells->LumaGrid(luma)) v.phash = PerceptualHash(luma, orientation);
  auto colour = std::make_unique<float[][N][3]>(N);
  if (cells->ColourGrid(colour.get())) {
    v.blurhash = BlurHashForPicture(colour.get(), orientation, h.width, h.height);
  }
  return v;
}

}  // namespace imgd

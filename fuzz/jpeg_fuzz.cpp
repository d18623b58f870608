// The JPEG gate on arbitrary bytes: signature and marker walk (ReadJpegHeader), the metadata
// walk transforms use (ReadJpegInfo: EXIF orientation, ICC), and the full validation with
// its 1/8-scale decode. Refusals are ApiErrors; anything else (a crash, a sanitizer report,
// another exception) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "core/memory_source.h"
#include "image/jpeg_header.h"
#include "image/jpeg_info.h"
#include "image/jpeg_validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imgd::MemorySource src(std::string(reinterpret_cast<const char*>(data), size));
  (void)imgd::ReadJpegHeader(src);
  (void)imgd::ReadJpegInfo(src);
  imgd::JpegLimits limits;
  limits.max_pixels = 16'000'000;
  limits.max_decode_memory = 256ull << 20;
  try {
    (void)imgd::ValidateJpeg(src, limits);
  } catch (const imgd::Error&) {
  }
  return 0;
}

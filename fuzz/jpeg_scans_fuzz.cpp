// Structure-aware fuzzing of progressive scan scripts at the upload gate. The input is a
// size and a list of scans (band, successive approximation), forged into a greyscale JPEG
// whose scans cover every block with EOB runs, so libFuzzer explores the progression rules
// and the scan and pass caps rather than Huffman noise. Whatever the script, the gate must
// answer with an Error or accept, and an accepted file must be within the caps: at most
// max_scans scans walking at most max_passes times the image's blocks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "../tests/forge/jpeg_forge.h"
#include "core/errors.h"
#include "core/memory_source.h"
#include "image/jpeg_validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const int width = 1 + (data[0] | (data[1] & 0x07) << 8);  // up to 2048
  const int height = 1 + (data[2] | (data[3] & 0x07) << 8);
  std::vector<imgd::forge::Scan> scans;
  for (size_t i = 4; i + 2 < size && scans.size() < 1000; i += 3) {
    scans.push_back({data[i] & 63, data[i + 1] & 63, data[i + 2] >> 4, data[i + 2] & 15});
  }
  imgd::JpegLimits limits;
  limits.max_scans = 40;
  limits.max_passes = 10;
  imgd::MemorySource src(imgd::forge::Progressive(width, height, scans));
  try {
    (void)imgd::ValidateJpeg(src, limits);
  } catch (const imgd::Error&) {
    return 0;
  }
  // Accepted: one component, so every scan is one pass.
  if (static_cast<int>(scans.size()) > limits.max_passes) std::abort();
  return 0;
}

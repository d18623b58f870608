#pragma once
// Full decode of a JPEG's entropy-coded data at 1/8 scale with libjpeg-turbo, failing on
// any error *or warning*. Warnings matter: truncation ("premature end") and damaged scans
// that the Huffman decoder re-synchronises after ("N extraneous bytes before marker") are
// only warnings in libjpeg, and libvips 8.14 lets the latter through even with
// fail_on=warning. Blocking and CPU-heavy: run it on the CPU pool.
#include <cstdint>
#include <string>

#include "core/byte_source.h"

namespace imgd {

struct DecodeCheckResult {
  bool ok = false;
  std::string error;  // libjpeg's message when !ok
};

// max_memory bounds libjpeg's working memory (progressive files buffer every
// coefficient); a file needing more fails instead of exhausting the machine.
DecodeCheckResult DecodeCheckJpeg(ByteSource& src, uint64_t max_memory);

}  // namespace imgd

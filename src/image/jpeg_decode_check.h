#pragma once
// Full decode of a JPEG's entropy-coded data at 1/8 scale with libjpeg-turbo, failing on
// any error *or warning*. Warnings matter: truncation ("premature end") and damaged scans
// that the Huffman decoder re-synchronises after ("N extraneous bytes before marker") are
// only warnings in libjpeg, and libvips 8.14 lets the latter through even with
// fail_on=warning. Blocking and CPU-heavy: run it on the CPU pool.
#include <cstdint>
#include <string>

#include "core/byte_source.h"
#include "image/cell_grid.h"
#include "image/deadline.h"

namespace imgd {

struct DecodeCheckLimits {
  // libjpeg's working memory (progressive files buffer every coefficient); a file
  // needing more fails instead of exhausting the machine.
  uint64_t max_memory = 1ull << 30;
  // Scans per image. Every scan walks all blocks of its components, so scans x blocks is
  // the decode's work: a few bytes per empty scan buy a full pass over the image. The
  // encoders we checked write at most 18 (libjpeg's simple progression for 4 components;
  // 10 for colour, 6 for grey; mozjpeg and Photoshop fewer).
  int max_scans = 100;
  // The decode's work, bounded by the image's size: the blocks all scans walk (each
  // counted once per scan it is in) may not pass max_passes times the image's blocks.
  // libjpeg's progressions walk 4.3x (colour 4:2:0), 3.7x (4:4:4), 5x (CMYK), 6x (grey).
  int max_passes = 20;
  // Checked by libjpeg's progress monitor (per row of blocks, also while a progressive
  // file's scans are buffered before the first output row).
  Deadline deadline;
};

struct DecodeCheckResult {
  enum class Failure { kNone, kBadData, kTooManyScans, kTooMuchWork, kTimedOut };
  bool ok = false;
  Failure failure = Failure::kNone;
  std::string error;  // what went wrong, for the client
};

// Stops at the first error or warning, past max_scans or max_passes, or at the deadline.
// With cells, the decoded rows are also summed into it (for the perceptual hash and the
// placeholder).
DecodeCheckResult DecodeCheckJpeg(ByteSource& src, const DecodeCheckLimits& limits,
                                  CellAccumulator* cells = nullptr);

}  // namespace imgd

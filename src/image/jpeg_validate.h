#pragma once
// The upload gate: decides by the bytes alone whether an upload is an acceptable JPEG,
// cheapest check first. Throws Error 415 (not a JPEG) or 422 (a JPEG we cannot or will
// not decode). Blocking and CPU-heavy: run it on the CPU pool.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/byte_source.h"
#include "image/jpeg_header.h"

namespace imgd {

struct JpegLimits {
  uint64_t max_pixels = 100'000'000;
  uint64_t max_decode_memory = 1ull << 30;
  int max_scans = 100;  // see DecodeCheckLimits
  int max_passes = 20;  // see DecodeCheckLimits
  std::chrono::milliseconds decode_timeout{10'000};
};

// 1. FF D8 FF signature (else 415); 2. marker walk to a well-formed SOFn (else 422);
// 3. width*height within max_pixels, before any decoding (else 422 too-many-pixels);
// 4. full 1/8-scale decode of the entropy data, any libjpeg warning fatal (else 422
//    undecodable-jpeg), at most max_scans scans walking at most max_passes times the
//    image's blocks (else 422 too-many-scans), within decode_timeout of CPU-pool time
//    (else 422 decode-timeout). So the decode's work is bounded by max_passes x max_pixels
//    before it starts.
//    The same decode yields the perceptual hash (perceptual_hash.h) and the placeholder
//    (blurhash.h).
struct ValidatedJpeg {
  JpegHeader header;
  std::optional<uint64_t> phash;  // none for CMYK and YCCK files
  std::string blurhash;
};
ValidatedJpeg ValidateJpeg(ByteSource& src, const JpegLimits& limits);

}  // namespace imgd

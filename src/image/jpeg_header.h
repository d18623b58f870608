#pragma once
// JPEG structure checks that need no decoding: the signature and a walk over the marker
// segments up to the frame header (SOFn). Pure functions over a ByteSource, so they are
// cheap, fuzzable and testable without a server.
#include <cstdint>
#include <optional>
#include <string>

#include "core/byte_source.h"

namespace imgd {

// True for the start-of-frame markers SOF0..SOF15 (not DHT C4, JPG C8, DAC CC).
inline bool IsSofMarker(uint8_t m) {
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

// True when the bytes start with FF D8 FF (SOI followed by another marker).
bool HasJpegSignature(ByteSource& src);

struct JpegHeader {
  int width = 0;
  int height = 0;
  int components = 0;
  int precision = 0;
  int sof_marker = 0;  // 0xC0..0xCF
  bool progressive = false;
  bool arithmetic = false;
};

struct JpegHeaderResult {
  std::optional<JpegHeader> header;  // set when the walk reached a well-formed SOFn
  std::string error;                 // why not, otherwise
};

// Walks marker segments from SOI to the first SOFn, checking every length against the
// data. Fails on a segment running past the end, a scan or EOI before any SOFn, a
// malformed SOFn (length vs component count), 0 width/height or 0 components.
JpegHeaderResult ReadJpegHeader(ByteSource& src);

}  // namespace imgd

#pragma once
// What the transform pipeline needs to know about a JPEG before decoding it: the frame,
// the EXIF orientation and the embedded ICC profile. Reads only the marker segments before
// the first scan. Pure and bounded: safe on hostile bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/byte_source.h"
#include "image/jpeg_header.h"

namespace imgd {

struct JpegInfo {
  JpegHeader frame;
  int orientation = 1;  // EXIF Orientation 1..8; anything else reads as 1
  std::string icc;      // the assembled ICC profile, empty when none (or unusable)
};

// nullopt when the bytes do not reach a well-formed frame header.
std::optional<JpegInfo> ReadJpegInfo(ByteSource& src);

// The EXIF Orientation in an APP1 payload (starting "Exif\0\0"); 1 when absent or invalid.
// Follows at most one IFD, bounds-checks every offset, so loops and lies cannot hurt.
int ExifOrientation(std::string_view app1);

// True when the profile is sRGB in effect: an RGB display profile whose description says
// sRGB and whose primaries are sRGB's (so a renamed, altered profile is not trusted).
bool IsSrgbProfile(std::string_view icc);

// True when the orientation swaps width and height (5..8).
inline bool OrientationSwapsAxes(int orientation) { return orientation >= 5 && orientation <= 8; }

}  // namespace imgd

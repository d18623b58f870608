#pragma once
// Encodes pixels as a JPEG with libjpeg-turbo: baseline or progressive, 4:2:0 chroma,
// optimised Huffman tables, and no metadata at all (no EXIF, ICC, XMP, comments: the
// pixels are sRGB, which is what a profile-less JPEG means). Blocking, CPU-heavy.
#include <string>

#include "image/deadline.h"
#include "image/pixels.h"

namespace imgd {

// Throws Error 503 once the deadline has passed (checked by libjpeg's progress monitor
// through every pass, so a progressive encode's final passes are covered too).
std::string EncodeJpeg(const Pixels& pixels, int quality, bool progressive,
                       const Deadline& deadline = {});

}  // namespace imgd

#pragma once
// Encodes pixels as a JPEG with libjpeg-turbo: baseline or progressive, 4:2:0 chroma,
// optimised Huffman tables, and no metadata at all (no EXIF, ICC, XMP, comments: the
// pixels are sRGB, which is what a profile-less JPEG means). Blocking, CPU-heavy.
#include <string>

#include "image/pixels.h"

namespace imgd {

std::string EncodeJpeg(const Pixels& pixels, int quality, bool progressive);

}  // namespace imgd

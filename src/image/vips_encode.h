#pragma once
// Encodes pixels as WebP or AVIF with libvips (webpsave: libwebp; heifsave: libheif with
// the AV1 encoder, libaom), lossy, 4:2:0, 8-bit, with no metadata at all, like the JPEG
// encoder. Blocking, CPU-heavy. Call VipsStartup once per process first.
#include <string>

#include "image/deadline.h"
#include "image/pixels.h"

namespace imgd {

// quality is the encoder's own (see EncoderQuality). Throws Error 503 when the deadline
// has passed before encoding starts (an encode itself cannot be interrupted: its cost is
// bounded by the output size limits instead).
std::string EncodeWebp(const Pixels& pixels, int quality, const Deadline& deadline = {});

// A WebP file without its EXIF, XMP and ICCP chunks (flags and sizes kept right); other
// input comes back unchanged.
std::string StripWebpMetadata(std::string webp);

// effort: libvips' 0 (fastest) .. 9. imgd uses 1: on the corpus photos at 1200 px and q 75
// it makes files 6.5% smaller than 0 for 2.5x the time, and 2 is no smaller for twice that
// again; 4 and up take seconds (bench/results/2026-11-30T180000Z-formats).
inline constexpr int kAvifEffort = 1;
std::string EncodeAvif(const Pixels& pixels, int quality, const Deadline& deadline = {},
                       int effort = kAvifEffort);

}  // namespace imgd

#pragma once
// The general decoder, for what the fast one does not handle: CMYK and YCCK (Adobe
// inverted too) and any embedded ICC profile other than sRGB. libvips' jpegload (called by
// name: never a sniffed loader) with shrink-on-load, then the ICC transform to sRGB.
// Blocking, CPU-heavy. Call VipsStartup once per process first.
#include "core/byte_source.h"
#include "image/deadline.h"
#include "image/jpeg_info.h"
#include "image/pixels.h"

namespace imgd {

// Initialises libvips for imgd: operation cache off, one worker thread per operation
// (imgd runs transforms in parallel itself). Safe to call more than once.
void VipsStartup(const char* argv0);

// libvips' tracked memory now and its high-water mark, in bytes.
size_t VipsTrackedMemory();
size_t VipsTrackedMemoryHighwater();

// Decodes at the largest shrink-on-load (1, 2, 4, 8) that still covers
// min_width x min_height, in sRGB (3 channels) or grey (1). Throws Error 422 on
// undecodable data, 503 when the deadline passes.
Pixels DecodeJpegVips(ByteSource& src, const JpegInfo& info, int min_width, int min_height,
                      const Deadline& deadline);

}  // namespace imgd

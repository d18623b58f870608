#pragma once
// The fast decoder: libjpeg-turbo with DCT-domain scaling straight to the smallest scale
// M/8 (M = 1, 2, 3, 4 or 8) whose output still covers the size the pipeline resamples to
// with room to spare for the final Lanczos resample (see FastDecodeScale), for quality.
// A progressive file decoded at 1/8 needs only its DC coefficients, so only its DC scans
// are read: the AC scans (most of the file) are skipped without being entropy-decoded.
// Handles 8-bit greyscale, YCbCr and RGB JPEGs (see CanDecodeFast); blocking, CPU-heavy.
#include "core/byte_source.h"
#include "image/deadline.h"
#include "image/jpeg_info.h"
#include "image/pixels.h"

namespace imgd {

// True for 8-bit JPEGs with 1 or 3 components (not CMYK/YCCK).
bool CanDecodeFast(const JpegInfo& info);

// The DCT scale numerator (of 8) the fast decoder uses for a stored width x height that
// must cover min_width x min_height.
int FastDecodeScale(int width, int height, int min_width, int min_height);

// Decodes at FastDecodeScale. Throws Error 422 on undecodable data, 503 when the
// deadline passes; StoreError when reading the bytes fails.
Pixels DecodeJpegFast(ByteSource& src, const JpegInfo& info, int min_width, int min_height,
                      const Deadline& deadline);

}  // namespace imgd

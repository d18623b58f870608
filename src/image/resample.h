#pragma once
// High-quality separable resampling (Lanczos-3, 14-bit fixed point), vertical pass first,
// with SSE4.1 kernels chosen at run time on x86-64 and a portable scalar fallback.
// Both passes clamp to 0..255, as libvips' reduce does.
#include "image/deadline.h"
#include "image/pixels.h"

namespace imgd {

// Resamples in (1 or 3 channels) to out_width x out_height. Up- and downscaling. Checks the
// deadline every 64 output rows of each pass; throws Error 503 once it has passed.
Pixels Resample(const Pixels& in, int out_width, int out_height, const Deadline& deadline = {});

// Only the window of Resample(in, out_width, out_height) (inside it), computed without the
// rest: the same pixels as resampling all and cropping, for the cost of the window. A
// fit=cover variant resamples just what it keeps.
Pixels ResampleWindow(const Pixels& in, int out_width, int out_height, Rect window,
                      const Deadline& deadline = {});

// For tests and benchmarks: false forces the scalar kernels.
void SetResampleSimd(bool enabled);

}  // namespace imgd

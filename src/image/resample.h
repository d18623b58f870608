#pragma once
// High-quality separable resampling (Lanczos-3, 14-bit fixed point), vertical pass first,
// with SSE4.1 kernels chosen at run time on x86-64 and a portable scalar fallback.
// Both passes clamp to 0..255, as libvips' reduce does.
#include "image/pixels.h"

namespace imgd {

// Resamples in (1 or 3 channels) to out_width x out_height. Up- and downscaling.
Pixels Resample(const Pixels& in, int out_width, int out_height);

// For tests and benchmarks: false forces the scalar kernels.
void SetResampleSimd(bool enabled);

}  // namespace imgd

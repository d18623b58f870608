#pragma once
// A 64-bit perceptual hash of a picture (pHash-style), from the 1/8-scale decode upload
// validation already makes (no second decode): the luma averaged into a 32x32 grid, turned
// upright (EXIF orientation), its 2-D DCT, and one bit per coefficient of the 8x8 lowest
// frequencies after the first row and column (u, v = 1..8), set when above their median.
// Re-encoded, resized, stripped or slightly brightened copies differ in a few bits; mirrored,
// rotated and unrelated pictures in about half (docs/api.md#near-duplicates has the table).
#include <bit>
#include <cstdint>
#include <optional>

#include "image/cell_grid.h"

namespace imgd {

// The hash of an upright-turned grid (orientation: EXIF 1..8, others read as 1).
uint64_t PerceptualHash(const float grid[CellAccumulator::kGrid][CellAccumulator::kGrid],
                        int orientation);

inline int HammingDistance(uint64_t a, uint64_t b) { return std::popcount(a ^ b); }

}  // namespace imgd

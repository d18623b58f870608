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

namespace imgd {

// Sums decoded rows into a 32x32 grid of luma. Trivially destructible (it lives across
// libjpeg's setjmp/longjmp). Begin, then AddRow for every output row, then Grid.
struct LumaAccumulator {
  static constexpr int kGrid = 32;
  // The decoded image's size; components is 1 (grey, or the Y of YCbCr output) or 3 (RGB).
  void Begin(int width, int height, int components, bool rgb);
  void AddRow(int y, const uint8_t* row);
  // The mean luma per cell; false when nothing (or not every cell) was covered.
  bool Grid(float out[kGrid][kGrid]) const;

  bool active = false;
  int width = 0, height = 0, components = 0;
  bool rgb = false;
  double sum[kGrid][kGrid];
  uint32_t count[kGrid][kGrid];
};

// The hash of an upright-turned grid (orientation: EXIF 1..8, others read as 1).
uint64_t PerceptualHash(const float grid[LumaAccumulator::kGrid][LumaAccumulator::kGrid],
                        int orientation);

inline int HammingDistance(uint64_t a, uint64_t b) { return std::popcount(a ^ b); }

}  // namespace imgd

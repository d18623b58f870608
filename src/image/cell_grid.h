#pragma once
// The 1/8-scale decode upload validation already makes, averaged into a 32x32 grid of cells:
// luma for the perceptual hash (perceptual_hash.h), colour for the placeholder (blurhash.h).
// No second decode is paid for either.
#include <cstdint>

namespace imgd {

// Sums decoded rows into a 32x32 grid. Trivially destructible (it lives across libjpeg's
// setjmp/longjmp). Begin, then AddRow for every output row, then LumaGrid / ColourGrid.
struct CellAccumulator {
  static constexpr int kGrid = 32;
  // What the decoder writes per pixel.
  enum class Layout { kNone, kGrey, kYCbCr, kRgb, kCmyk };
  void Begin(int width, int height, Layout layout);
  void AddRow(int y, const uint8_t* row);
  // Mean luma per cell; false when nothing (or not every cell) was covered, and for CMYK
  // (whose luma depends on a press profile the file may not carry).
  bool LumaGrid(float out[kGrid][kGrid]) const;
  // Mean sRGB per cell (0..255); false when nothing (or not every cell) was covered. CMYK
  // is taken as Adobe's inverted CMYK, what every CMYK JPEG we have seen stores.
  bool ColourGrid(float out[kGrid][kGrid][3]) const;

  Layout layout = Layout::kNone;
  int width = 0, height = 0, components = 0;
  double sum[4][kGrid][kGrid];
  uint32_t count[kGrid][kGrid];

 private:
  // The cell whose sums stand for (y, x): itself, or for a picture narrower or shorter than
  // the grid the cell of the pixel that covers it. False when that one is empty too.
  bool Source(int y, int x, int& sy, int& sx) const;
};

// The stored grid's (row, column) shown at upright (y, x) under EXIF orientation o (1..8;
// others read as 1).
inline void UprightCell(int o, int y, int x, int& row, int& col) {
  constexpr int N = CellAccumulator::kGrid;
  switch (o) {
    case 2:
      row = y, col = N - 1 - x;
      return;
    case 3:
      row = N - 1 - y, col = N - 1 - x;
      return;
    case 4:
      row = N - 1 - y, col = x;
      return;
    case 5:
      row = x, col = y;
      return;
    case 6:
      row = N - 1 - x, col = y;
      return;
    case 7:
      row = N - 1 - x, col = N - 1 - y;
      return;
    case 8:
      row = x, col = N - 1 - y;
      return;
    default:
      row = y, col = x;
      return;
  }
}

}  // namespace imgd

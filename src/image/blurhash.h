#pragma once
// The placeholder every image carries: a BlurHash (https://blurha.sh, Wolt's algorithm),
// 20-30 ASCII characters that a page decodes into a blurred picture of the right colours
// and shape, painted before the variant arrives. Chosen over a ~32 px inline JPEG because it
// is about 30 bytes instead of 600-1,000 in every image's JSON (a list of 100 images stays
// small), it needs no image decoder, and decoders exist for the web, iOS and Android.
#include <string>

#include "image/cell_grid.h"

namespace imgd {

// The BlurHash of the colour grid (sRGB 0..255, the whole picture squeezed into the grid)
// turned upright by EXIF orientation, with components_x x components_y components (1..9).
std::string BlurHash(const float grid[CellAccumulator::kGrid][CellAccumulator::kGrid][3],
                     int orientation, int components_x, int components_y);

// 4 components along the picture's longer upright side and 3 along the shorter, the
// reference's default shape: a 28-character hash.
std::string BlurHashForPicture(const float grid[CellAccumulator::kGrid][CellAccumulator::kGrid][3],
                               int orientation, int width, int height);

}  // namespace imgd

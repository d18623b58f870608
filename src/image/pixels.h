#pragma once
// An 8-bit image in memory (1 = grey or 3 = RGB channels, rows tightly packed) and the
// cheap geometric steps of the pipeline: orientation, crop, letterbox.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace imgd {

struct Pixels {
  int width = 0;
  int height = 0;
  int channels = 3;
  // width * height * channels bytes plus kPad spare bytes, so SIMD loads may run a little
  // past the last pixel without leaving the allocation.
  std::vector<uint8_t> data;
  static constexpr size_t kPad = 32;

  static Pixels Make(int width, int height, int channels);
  size_t stride() const { return static_cast<size_t>(width) * channels; }
  uint8_t* row(int y) { return data.data() + stride() * y; }
  const uint8_t* row(int y) const { return data.data() + stride() * y; }
  size_t bytes() const { return stride() * height; }
};

// Applies EXIF orientation 2..8 (1 and invalid values return the input unchanged).
Pixels Orient(Pixels in, int orientation);

struct Rect {
  int x = 0, y = 0, width = 0, height = 0;
};
// The window of a stored (unoriented) stored_width x stored_height image that shows, once
// Orient(…, orientation) is applied, the window `upright` of the upright picture: cropping
// there first and orienting after gives the same pixels as orienting first and cropping.
Rect StoredRect(int orientation, int stored_width, int stored_height, Rect upright);
// The window [x, x+w) x [y, y+h) (clamped to the image).
Pixels Crop(Pixels in, int x, int y, int w, int h);
// in placed at (x, y) on a canvas of w x h filled with rgb (0xRRGGBB).
Pixels Embed(const Pixels& in, int w, int h, int x, int y, uint32_t rgb);

}  // namespace imgd

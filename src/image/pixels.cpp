#include "image/pixels.h"

#include <algorithm>
#include <cstring>

namespace imgd {

Pixels Pixels::Make(int width, int height, int channels) {
  Pixels p;
  p.width = width;
  p.height = height;
  p.channels = channels;
  p.data.resize(static_cast<size_t>(width) * height * channels + kPad);
  return p;
}

Rect StoredRect(int orientation, int stored_width, int stored_height, Rect u) {
  const int W = stored_width, H = stored_height;
  switch (orientation) {  // the inverse of Orient's pixel mapping, for a whole window
    case 2:
      return {W - u.x - u.width, u.y, u.width, u.height};
    case 3:
      return {W - u.x - u.width, H - u.y - u.height, u.width, u.height};
    case 4:
      return {u.x, H - u.y - u.height, u.width, u.height};
    case 5:
      return {u.y, u.x, u.height, u.width};
    case 6:
      return {u.y, H - u.x - u.width, u.height, u.width};
    case 7:
      return {W - u.y - u.height, H - u.x - u.width, u.height, u.width};
    case 8:
      return {W - u.y - u.height, u.x, u.height, u.width};
    default:
      return u;
  }
}

Pixels Orient(Pixels in, int orientation) {
  if (orientation < 2 || orientation > 8) return in;
  const bool swap = orientation >= 5;
  const int W = in.width, H = in.height, C = in.channels;
  Pixels out = Pixels::Make(swap ? H : W, swap ? W : H, C);
  // For each output pixel (x, y), the stored pixel it shows.
  for (int y = 0; y < out.height; ++y) {
    uint8_t* o = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2:
          sx = W - 1 - x;
          break;
        case 3:
          sx = W - 1 - x;
          sy = H - 1 - y;
          break;
        case 4:
          sy = H - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = H - 1 - x;
          break;
        case 7:
          sx = W - 1 - y;
          sy = H - 1 - x;
          break;
        case 8:
          sx = W - 1 - y;
          sy = x;
          break;
      }
      std::memcpy(o + static_cast<size_t>(x) * C, in.row(sy) + static_cast<size_t>(sx) * C,
                  static_cast<size_t>(C));
    }
  }
  return out;
}

Pixels Crop(Pixels in, int x, int y, int w, int h) {
  x = std::clamp(x, 0, in.width);
  y = std::clamp(y, 0, in.height);
  w = std::clamp(w, 0, in.width - x);
  h = std::clamp(h, 0, in.height - y);
  if (x == 0 && y == 0 && w == in.width && h == in.height) return in;
  Pixels out = Pixels::Make(w, h, in.channels);
  for (int r = 0; r < h; ++r) {
    std::memcpy(out.row(r), in.row(y + r) + static_cast<size_t>(x) * in.channels, out.stride());
  }
  return out;
}

Pixels Embed(const Pixels& in, int w, int h, int x, int y, uint32_t rgb) {
  Pixels out = Pixels::Make(w, h, in.channels);
  const uint8_t c[3] = {static_cast<uint8_t>(rgb >> 16), static_cast<uint8_t>(rgb >> 8),
                        static_cast<uint8_t>(rgb)};
  // Grey output takes the background's luma (BT.601, as JPEG's YCbCr).
  const uint8_t grey = static_cast<uint8_t>((299 * c[0] + 587 * c[1] + 114 * c[2] + 500) / 1000);
  for (int r = 0; r < h; ++r) {
    uint8_t* o = out.row(r);
    if (in.channels == 1) {
      std::memset(o, grey, out.stride());
    } else {
      for (int i = 0; i < w; ++i) std::memcpy(o + 3 * i, c, 3);
    }
  }
  for (int r = 0; r < in.height && y + r < h; ++r) {
    if (y + r < 0) continue;
    size_t n = static_cast<size_t>(std::min(in.width, w - x)) * in.channels;
    std::memcpy(out.row(y + r) + static_cast<size_t>(x) * in.channels, in.row(r), n);
  }
  return out;
}

}  // namespace imgd

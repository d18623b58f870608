#include "image/cell_grid.h"

#include <algorithm>
#include <cstring>

namespace imgd {
namespace {

constexpr int N = CellAccumulator::kGrid;

int ComponentsOf(CellAccumulator::Layout l) {
  switch (l) {
    case CellAccumulator::Layout::kGrey:
      return 1;
    case CellAccumulator::Layout::kYCbCr:
    case CellAccumulator::Layout::kRgb:
      return 3;
    case CellAccumulator::Layout::kCmyk:
      return 4;
    default:
      return 0;
  }
}

float Clamp255(double v) { return static_cast<float>(std::clamp(v, 0.0, 255.0)); }

}  // namespace

void CellAccumulator::Begin(int w, int h, Layout l) {
  layout = w > 0 && h > 0 ? l : Layout::kNone;
  width = w;
  height = h;
  components = ComponentsOf(layout);
  std::memset(sum, 0, sizeof(sum));
  std::memset(count, 0, sizeof(count));
}

void CellAccumulator::AddRow(int y, const uint8_t* row) {
  if (layout == Layout::kNone || y < 0 || y >= height) return;
  const int cy = static_cast<int>(static_cast<int64_t>(y) * N / height);
  for (int x = 0; x < width; ++x) {
    const uint8_t* p = row + static_cast<size_t>(x) * components;
    const int cx = static_cast<int>(static_cast<int64_t>(x) * N / width);
    for (int c = 0; c < components; ++c) sum[c][cy][cx] += p[c];
    ++count[cy][cx];
  }
}

bool CellAccumulator::Source(int y, int x, int& sy, int& sx) const {
  sy = y;
  sx = x;
  if (count[y][x] == 0) {
    const int py = std::min(height - 1, y * height / N);
    const int px = std::min(width - 1, x * width / N);
    sy = static_cast<int>(static_cast<int64_t>(py) * N / height);
    sx = static_cast<int>(static_cast<int64_t>(px) * N / width);
  }
  return count[sy][sx] != 0;
}

bool CellAccumulator::LumaGrid(float out[N][N]) const {
  if (layout == Layout::kNone || layout == Layout::kCmyk) return false;
  for (int y = 0; y < N; ++y) {
    for (int x = 0; x < N; ++x) {
      int sy, sx;
      if (!Source(y, x, sy, sx)) return false;
      const double n = count[sy][sx];
      // Y of YCbCr (or grey) is the first component; RGB gets Rec. 601 luma.
      out[y][x] = static_cast<float>(
          layout == Layout::kRgb
              ? (0.299 * sum[0][sy][sx] + 0.587 * sum[1][sy][sx] + 0.114 * sum[2][sy][sx]) / n
              : sum[0][sy][sx] / n);
    }
  }
  return true;
}

bool CellAccumulator::ColourGrid(float out[N][N][3]) const {
  if (layout == Layout::kNone) return false;
  for (int y = 0; y < N; ++y) {
    for (int x = 0; x < N; ++x) {
      int sy, sx;
      if (!Source(y, x, sy, sx)) return false;
      const double n = count[sy][sx];
      const double a = sum[0][sy][sx] / n, b = sum[1][sy][sx] / n, c = sum[2][sy][sx] / n;
      float* o = out[y][x];
      switch (layout) {
        case Layout::kGrey:
          o[0] = o[1] = o[2] = Clamp255(a);
          break;
        case Layout::kYCbCr:  // JFIF's conversion; affine, so converting the mean is exact
          o[0] = Clamp255(a + 1.402 * (c - 128));
          o[1] = Clamp255(a - 0.344136 * (b - 128) - 0.714136 * (c - 128));
          o[2] = Clamp255(a + 1.772 * (b - 128));
          break;
        case Layout::kRgb:
          o[0] = Clamp255(a), o[1] = Clamp255(b), o[2] = Clamp255(c);
          break;
        case Layout::kCmyk: {  // inverted: 255 is no ink
          const double k = sum[3][sy][sx] / n / 255;
          o[0] = Clamp255(a * k), o[1] = Clamp255(b * k), o[2] = Clamp255(c * k);
          break;
        }
        default:
          return false;
      }
    }
  }
  return true;
}

}  // namespace imgd

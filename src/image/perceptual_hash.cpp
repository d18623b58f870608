#include "image/perceptual_hash.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

namespace imgd {
namespace {

constexpr int N = LumaAccumulator::kGrid;
constexpr int kLow = 8;  // frequencies 1..8 in each direction

// DCT-II basis rows u = 1..8 over 32 samples.
const std::array<std::array<float, N>, kLow>& Basis() {
  static const auto basis = [] {
    std::array<std::array<float, N>, kLow> b{};
    for (int u = 0; u < kLow; ++u) {
      for (int x = 0; x < N; ++x) {
        b[u][x] = static_cast<float>(std::cos((2 * x + 1) * (u + 1) * M_PI / (2.0 * N)));
      }
    }
    return b;
  }();
  return basis;
}

// The stored grid's cell shown at upright (y, x) under EXIF orientation o.
float Upright(const float g[N][N], int o, int y, int x) {
  switch (o) {
    case 2:
      return g[y][N - 1 - x];
    case 3:
      return g[N - 1 - y][N - 1 - x];
    case 4:
      return g[N - 1 - y][x];
    case 5:
      return g[x][y];
    case 6:
      return g[N - 1 - x][y];
    case 7:
      return g[N - 1 - x][N - 1 - y];
    case 8:
      return g[x][N - 1 - y];
    default:
      return g[y][x];
  }
}

}  // namespace

void LumaAccumulator::Begin(int w, int h, int comps, bool is_rgb) {
  active = w > 0 && h > 0 && (comps == 1 || comps == 3);
  width = w;
  height = h;
  components = comps;
  rgb = is_rgb;
  std::memset(sum, 0, sizeof(sum));
  std::memset(count, 0, sizeof(count));
}

void LumaAccumulator::AddRow(int y, const uint8_t* row) {
  if (!active || y < 0 || y >= height) return;
  const int cy = static_cast<int>(static_cast<int64_t>(y) * N / height);
  for (int x = 0; x < width; ++x) {
    const uint8_t* p = row + static_cast<size_t>(x) * components;
    // Y of YCbCr (or grey) is the first component; RGB gets Rec. 601 luma.
    const double luma = rgb ? 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] : p[0];
    const int cx = static_cast<int>(static_cast<int64_t>(x) * N / width);
    sum[cy][cx] += luma;
    ++count[cy][cx];
  }
}

bool LumaAccumulator::Grid(float out[N][N]) const {
  if (!active) return false;
  for (int y = 0; y < N; ++y) {
    for (int x = 0; x < N; ++x) {
      // A picture narrower or shorter than the grid leaves cells between its pixels: they
      // take the pixel that covers them.
      const int sy = std::min(height - 1, y * height / N);
      const int sx = std::min(width - 1, x * width / N);
      const int cy = static_cast<int>(static_cast<int64_t>(sy) * N / height);
      const int cx = static_cast<int>(static_cast<int64_t>(sx) * N / width);
      const uint32_t n = count[y][x] ? count[y][x] : count[cy][cx];
      if (n == 0) return false;
      out[y][x] = static_cast<float>((count[y][x] ? sum[y][x] : sum[cy][cx]) / n);
    }
  }
  return true;
}

uint64_t PerceptualHash(const float grid[N][N], int orientation) {
  const auto& basis = Basis();
  // Rows first: r[y][v] = sum_x g[y][x] * basis[v][x], on the upright grid.
  float upright[N][N];
  for (int y = 0; y < N; ++y) {
    for (int x = 0; x < N; ++x) upright[y][x] = Upright(grid, orientation, y, x);
  }
  float rows[N][kLow];
  for (int y = 0; y < N; ++y) {
    for (int v = 0; v < kLow; ++v) {
      float acc = 0;
      for (int x = 0; x < N; ++x) acc += upright[y][x] * basis[v][x];
      rows[y][v] = acc;
    }
  }
  std::array<float, kLow * kLow> coef{};
  for (int u = 0; u < kLow; ++u) {
    for (int v = 0; v < kLow; ++v) {
      float acc = 0;
      for (int y = 0; y < N; ++y) acc += rows[y][v] * basis[u][y];
      coef[u * kLow + v] = acc;
    }
  }
  std::array<float, kLow* kLow> sorted = coef;
  std::nth_element(sorted.begin(), sorted.begin() + 32, sorted.end());
  const float upper = sorted[32];
  std::nth_element(sorted.begin(), sorted.begin() + 31, sorted.begin() + 32);
  const float median = (upper + sorted[31]) / 2;
  uint64_t hash = 0;
  for (int i = 0; i < kLow * kLow; ++i) {
    if (coef[i] > median) hash |= uint64_t{1} << i;
  }
  return hash;
}

}  // namespace imgd

#include "image/perceptual_hash.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace imgd {
namespace {

constexpr int N = CellAccumulator::kGrid;
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

float Upright(const float g[N][N], int o, int y, int x) {
  int row, col;
  UprightCell(o, y, x, row, col);
  return g[row][col];
}

}  // namespace

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

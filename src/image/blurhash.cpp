#include "image/blurhash.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace imgd {
namespace {

constexpr int N = CellAccumulator::kGrid;
constexpr char kBase83[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

void AppendBase83(std::string& out, int value, int digits) {
  for (int i = digits - 1; i >= 0; --i) {
    int divisor = 1;
    for (int k = 0; k < i; ++k) divisor *= 83;
    out += kBase83[(value / divisor) % 83];
  }
}

double SrgbToLinearExact(double v) {
  v /= 255;
  return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
}

// The grid holds means (not whole levels): a table at quarter levels, interpolated, is
// within 1e-5 of the curve at a twentieth of pow()'s cost.
double SrgbToLinear(double v) {
  static const auto table = [] {
    std::array<double, 1022> t{};
    for (size_t i = 0; i < t.size(); ++i) t[i] = SrgbToLinearExact(i / 4.0);
    return t;
  }();
  const double at = std::clamp(v, 0.0, 255.0) * 4;
  const size_t i = std::min(static_cast<size_t>(at), table.size() - 2);
  return table[i] + (table[i + 1] - table[i]) * (at - i);
}

int LinearToSrgb(double v) {
  v = std::clamp(v, 0.0, 1.0);
  return v <= 0.0031308 ? static_cast<int>(v * 12.92 * 255 + 0.5)
                        : static_cast<int>((1.055 * std::pow(v, 1 / 2.4) - 0.055) * 255 + 0.5);
}

double SignPow(double v, double exp) { return std::copysign(std::pow(std::abs(v), exp), v); }

struct Factor {
  double r = 0, g = 0, b = 0;
};

}  // namespace

std::string BlurHash(const float grid[N][N][3], int orientation, int cx, int cy) {
  cx = std::clamp(cx, 1, 9);
  cy = std::clamp(cy, 1, 9);
  // Linear light, upright.
  std::vector<double> lin(static_cast<size_t>(N) * N * 3);
  for (int y = 0; y < N; ++y) {
    for (int x = 0; x < N; ++x) {
      int row, col;
      UprightCell(orientation, y, x, row, col);
      for (int c = 0; c < 3; ++c) lin[(y * N + x) * 3 + c] = SrgbToLinear(grid[row][col][c]);
    }
  }
  double basis[9][N];  // cos(pi k p / N), the same along both axes of the square grid
  for (int k = 0; k < 9; ++k) {
    for (int p = 0; p < N; ++p) basis[k][p] = std::cos(M_PI * k * p / N);
  }
  std::vector<Factor> factors;
  for (int j = 0; j < cy; ++j) {
    for (int i = 0; i < cx; ++i) {
      const double norm = (i == 0 && j == 0) ? 1 : 2;
      Factor f;
      for (int y = 0; y < N; ++y) {
        Factor row;
        const double* p = &lin[y * N * 3];
        for (int x = 0; x < N; ++x, p += 3) {
          const double b = basis[i][x];
          row.r += b * p[0], row.g += b * p[1], row.b += b * p[2];
        }
        const double by = norm * basis[j][y];
        f.r += by * row.r, f.g += by * row.g, f.b += by * row.b;
      }
      const double scale = 1.0 / (N * N);
      factors.push_back({f.r * scale, f.g * scale, f.b * scale});
    }
  }
  std::string out;
  AppendBase83(out, (cx - 1) + (cy - 1) * 9, 1);
  double max_value = 1;
  if (factors.size() > 1) {
    double actual_max = 0;
    for (size_t k = 1; k < factors.size(); ++k) {
      actual_max = std::max(
          {actual_max, std::abs(factors[k].r), std::abs(factors[k].g), std::abs(factors[k].b)});
    }
    const int quantised =
        static_cast<int>(std::max(0.0, std::min(82.0, std::floor(actual_max * 166 - 0.5))));
    max_value = (quantised + 1) / 166.0;
    AppendBase83(out, quantised, 1);
  } else {
    AppendBase83(out, 0, 1);
  }
  const Factor& dc = factors[0];
  AppendBase83(out, (LinearToSrgb(dc.r) << 16) + (LinearToSrgb(dc.g) << 8) + LinearToSrgb(dc.b), 4);
  auto quant = [&](double v) {
    return static_cast<int>(
        std::max(0.0, std::min(18.0, std::floor(SignPow(v / max_value, 0.5) * 9 + 9.5))));
  };
  for (size_t k = 1; k < factors.size(); ++k) {
    AppendBase83(out,
                 quant(factors[k].r) * 19 * 19 + quant(factors[k].g) * 19 + quant(factors[k].b), 2);
  }
  return out;
}

std::string BlurHashForPicture(const float grid[N][N][3], int orientation, int width, int height) {
  const bool turned = orientation >= 5 && orientation <= 8;
  const int w = turned ? height : width, h = turned ? width : height;
  return w >= h ? BlurHash(grid, orientation, 4, 3) : BlurHash(grid, orientation, 3, 4);
}

}  // namespace imgd

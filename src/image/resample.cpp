#include "image/resample.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "core/errors.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define IMGD_HAVE_SSE41_KERNELS 1
#endif

namespace imgd {
namespace {

constexpr int kBits = 14;
constexpr int kOne = 1 << kBits;
constexpr double kLobes = 3.0;

std::atomic<bool> g_simd_enabled{true};

bool UseSimd() {
#if IMGD_HAVE_SSE41_KERNELS
  static const bool supported = __builtin_cpu_supports("sse4.1");
  return supported && g_simd_enabled.load(std::memory_order_relaxed);
#else
  return false;
#endif
}

double Sinc(double x) {
  if (x == 0) return 1;
  x *= M_PI;
  return std::sin(x) / x;
}
double Lanczos3(double x) { return std::fabs(x) < kLobes ? Sinc(x) * Sinc(x / kLobes) : 0; }

// For every output index, `taps` weights (summing to kOne) applied to inputs start..start+taps.
// Every window lies inside [0, in), so kernels need no bounds checks; taps is even (as the
// SIMD kernels need) unless the input is shorter than the filter; windows near the edges are
// shifted inwards with zero weights outside the filter support (edge pixels are not mirrored, the
// support is renormalised).
struct Coeffs {
  int taps = 0;
  std::vector<int> start;
  std::vector<int16_t> w;
};

Coeffs MakeCoeffs(int in, int out) {
  const double ratio = static_cast<double>(in) / out;
  const double scale = std::max(1.0, ratio);  // widen the kernel when shrinking
  const double support = kLobes * scale;
  Coeffs c;
  c.taps = std::min((static_cast<int>(std::ceil(support)) * 2 + 2) & ~1, in);
  c.start.resize(out);
  c.w.assign(static_cast<size_t>(out) * c.taps, 0);
  std::vector<double> tmp(c.taps);
  for (int x = 0; x < out; ++x) {
    const double center = (x + 0.5) * ratio;
    const int lo = std::max(0, static_cast<int>(std::floor(center - support)));
    const int hi = std::min(in, static_cast<int>(std::ceil(center + support)));
    int start = std::min(lo, std::max(0, in - c.taps));
    double sum = 0;
    for (int k = 0; k < c.taps; ++k) {
      int i = start + k;
      tmp[k] = (i >= lo && i < hi && i < in) ? Lanczos3((i + 0.5 - center) / scale) : 0;
      sum += tmp[k];
    }
    if (sum == 0) {  // cannot happen for a sane ratio; keep the nearest pixel then
      std::fill(tmp.begin(), tmp.end(), 0);
      tmp[std::clamp(static_cast<int>(center) - start, 0, c.taps - 1)] = sum = 1;
    }
    c.start[x] = start;
    int isum = 0, biggest = 0;
    int16_t* w = &c.w[static_cast<size_t>(x) * c.taps];
    for (int k = 0; k < c.taps; ++k) {
      w[k] = static_cast<int16_t>(std::lround(tmp[k] / sum * kOne));
      isum += w[k];
      if (tmp[k] > tmp[biggest]) biggest = k;
    }
    w[biggest] = static_cast<int16_t>(w[biggest] + (kOne - isum));  // exact unit gain
  }
  return c;
}

inline uint8_t Clamp8(int v) {
  v = (v + (kOne >> 1)) >> kBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// out row y = sum_k w[y][k] * in row (start[y] + k); rows are n bytes, any channel count.
void VerticalScalar(const Pixels& in, Pixels& out, const Coeffs& c, int y0, int y1) {
  const size_t n = in.stride();
  std::vector<int32_t> acc(n);
  for (int y = y0; y < y1; ++y) {
    std::fill(acc.begin(), acc.end(), 0);
    const int16_t* w = &c.w[static_cast<size_t>(y) * c.taps];
    for (int k = 0; k < c.taps; ++k) {
      if (w[k] == 0) continue;
      const uint8_t* r = in.row(c.start[y] + k);
      for (size_t i = 0; i < n; ++i) acc[i] += w[k] * r[i];
    }
    uint8_t* o = out.row(y);
    for (size_t i = 0; i < n; ++i) o[i] = Clamp8(acc[i]);
  }
}

void HorizontalScalar(const Pixels& in, Pixels& out, const Coeffs& c, int y0, int y1) {
  const int C = in.channels;
  for (int y = y0; y < y1; ++y) {
    const uint8_t* r = in.row(y);
    uint8_t* o = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      const int16_t* w = &c.w[static_cast<size_t>(x) * c.taps];
      const uint8_t* p = r + static_cast<size_t>(c.start[x]) * C;
      int acc[3] = {0, 0, 0};
      for (int k = 0; k < c.taps; ++k, p += C) {
        for (int ch = 0; ch < C; ++ch) acc[ch] += w[k] * p[ch];
      }
      for (int ch = 0; ch < C; ++ch) o[static_cast<size_t>(x) * C + ch] = Clamp8(acc[ch]);
    }
  }
}

#if IMGD_HAVE_SSE41_KERNELS
// Two taps per step: bytes of rows k and k+1 interleaved, widened to 16 bits, and
// multiplied-and-added against (w_k, w_k+1) pairs; 16 output bytes per iteration.
__attribute__((target("sse4.1"))) void VerticalSse41(const Pixels& in, Pixels& out, const Coeffs& c,
                                                     int y0, int y1) {
  const size_t n = in.stride();
  const size_t stride = in.stride();
  const __m128i zero = _mm_setzero_si128();
  for (int y = y0; y < y1; ++y) {
    const int16_t* w = &c.w[static_cast<size_t>(y) * c.taps];
    const uint8_t* base = in.row(c.start[y]);
    uint8_t* o = out.row(y);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      __m128i a0 = _mm_set1_epi32(kOne >> 1), a1 = a0, a2 = a0, a3 = a0;
      const uint8_t* p = base + i;
      for (int k = 0; k < c.taps; k += 2, p += 2 * stride) {
        int32_t pair;
        std::memcpy(&pair, w + k, 4);
        const __m128i wv = _mm_set1_epi32(pair);
        const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + stride));
        const __m128i lo = _mm_unpacklo_epi8(r0, r1), hi = _mm_unpackhi_epi8(r0, r1);
        a0 = _mm_add_epi32(a0, _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), wv));
        a1 = _mm_add_epi32(a1, _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), wv));
        a2 = _mm_add_epi32(a2, _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), wv));
        a3 = _mm_add_epi32(a3, _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), wv));
      }
      a0 = _mm_srai_epi32(a0, kBits);
      a1 = _mm_srai_epi32(a1, kBits);
      a2 = _mm_srai_epi32(a2, kBits);
      a3 = _mm_srai_epi32(a3, kBits);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i),
                       _mm_packus_epi16(_mm_packs_epi32(a0, a1), _mm_packs_epi32(a2, a3)));
    }
    for (; i < n; ++i) {
      int acc = 0;
      for (int k = 0; k < c.taps; ++k) acc += w[k] * base[static_cast<size_t>(k) * stride + i];
      o[i] = Clamp8(acc);
    }
  }
}

// RGB: four taps per 16-byte load (12 bytes used); each pair of taps is shuffled into
// (r0 r1 g0 g1 b0 b1 0 0) as 16-bit lanes and multiplied-and-added against (w0, w1).
// Reads up to 4 bytes past the window, covered by Pixels::kPad.
__attribute__((target("sse4.1"))) void HorizontalRgbSse41(const Pixels& in, Pixels& out,
                                                          const Coeffs& c, int y0, int y1) {
  const __m128i shuf01 = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
  const __m128i shuf23 = _mm_setr_epi8(6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1);
  const int taps = c.taps;
  for (int y = y0; y < y1; ++y) {
    const uint8_t* r = in.row(y);
    uint8_t* o = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      const int16_t* w = &c.w[static_cast<size_t>(x) * taps];
      const uint8_t* p = r + static_cast<size_t>(c.start[x]) * 3;
      __m128i acc = _mm_set1_epi32(kOne >> 1);
      int k = 0;
      for (; k + 4 <= taps; k += 4, p += 12) {
        const __m128i px = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        int32_t w01, w23;
        std::memcpy(&w01, w + k, 4);
        std::memcpy(&w23, w + k + 2, 4);
        acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_shuffle_epi8(px, shuf01), _mm_set1_epi32(w01)));
        acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_shuffle_epi8(px, shuf23), _mm_set1_epi32(w23)));
      }
      for (; k < taps; k += 2, p += 6) {
        const __m128i px = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        int32_t w01;
        std::memcpy(&w01, w + k, 4);
        acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_shuffle_epi8(px, shuf01), _mm_set1_epi32(w01)));
      }
      acc = _mm_srai_epi32(acc, kBits);
      const __m128i s16 = _mm_packs_epi32(acc, acc);
      const int32_t v = _mm_cvtsi128_si32(_mm_packus_epi16(s16, s16));
      std::memcpy(o + static_cast<size_t>(x) * 3, &v, 3);
    }
  }
}
#endif

}  // namespace

// Runs a kernel over out's rows in bands, checking the deadline between bands: a huge
// resample gives up within one band's time of its limit instead of running to the end.
template <typename Kernel>
void InBands(Pixels& out, const Deadline& deadline, Kernel kernel) {
  constexpr int kBand = 64;
  for (int y = 0; y < out.height; y += kBand) {
    if (deadline.Passed()) throw Unavailable("the transform took longer than its time limit", 1);
    kernel(y, std::min(out.height, y + kBand));
  }
}

void SetResampleSimd(bool enabled) { g_simd_enabled.store(enabled); }

namespace {

// The coefficients of output indices [from, from + n) of c, renumbered from 0.
Coeffs Slice(const Coeffs& c, int from, int n) {
  Coeffs s;
  s.taps = c.taps;
  s.start.assign(c.start.begin() + from, c.start.begin() + from + n);
  s.w.assign(c.w.begin() + static_cast<ptrdiff_t>(from) * c.taps,
             c.w.begin() + static_cast<ptrdiff_t>(from + n) * c.taps);
  return s;
}

}  // namespace

Pixels ResampleWindow(const Pixels& in, int out_width, int out_height, Rect win,
                      const Deadline& deadline) {
  const bool whole = win.x == 0 && win.y == 0 && win.width == out_width && win.height == out_height;
  if (whole && in.width == out_width && in.height == out_height) return in;
  const bool simd = UseSimd();
  // Vertical pass first: it is the cheaper one per pixel and shrinks the rows the
  // horizontal pass must visit. Without a vertical pass the horizontal one reads the input
  // where it is (no copy).
  Pixels mid;
  const Pixels* rows = &in;
  if (in.height != out_height || win.y != 0 || win.height != in.height) {
    const Coeffs cv = Slice(MakeCoeffs(in.height, out_height), win.y, win.height);
    mid = Pixels::Make(in.width, win.height, in.channels);
#if IMGD_HAVE_SSE41_KERNELS
    if (simd && cv.taps % 2 == 0) {
      InBands(mid, deadline, [&](int y0, int y1) { VerticalSse41(in, mid, cv, y0, y1); });
    } else {
      InBands(mid, deadline, [&](int y0, int y1) { VerticalScalar(in, mid, cv, y0, y1); });
    }
#else
    InBands(mid, deadline, [&](int y0, int y1) { VerticalScalar(in, mid, cv, y0, y1); });
#endif
    rows = &mid;
  }
  if (rows->width == out_width && win.x == 0 && win.width == out_width) {
    return rows == &mid ? std::move(mid) : in;
  }
  const Coeffs ch = Slice(MakeCoeffs(rows->width, out_width), win.x, win.width);
  Pixels out = Pixels::Make(win.width, win.height, in.channels);
#if IMGD_HAVE_SSE41_KERNELS
  if (simd && in.channels == 3 && ch.taps % 2 == 0) {
    InBands(out, deadline, [&](int y0, int y1) { HorizontalRgbSse41(*rows, out, ch, y0, y1); });
    return out;
  }
#endif
  (void)simd;
  InBands(out, deadline, [&](int y0, int y1) { HorizontalScalar(*rows, out, ch, y0, y1); });
  return out;
}

Pixels Resample(const Pixels& in, int out_width, int out_height, const Deadline& deadline) {
  return ResampleWindow(in, out_width, out_height, Rect{0, 0, out_width, out_height}, deadline);
}

}  // namespace imgd

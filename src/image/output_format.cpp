#include "image/output_format.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace imgd {

const char* FormatName(OutputFormat f) {
  switch (f) {
    case OutputFormat::kJpeg:
      return "jpeg";
    case OutputFormat::kWebp:
      return "webp";
    case OutputFormat::kAvif:
      return "avif";
  }
  return "jpeg";
}

const char* FormatMediaType(OutputFormat f) {
  switch (f) {
    case OutputFormat::kJpeg:
      return "image/jpeg";
    case OutputFormat::kWebp:
      return "image/webp";
    case OutputFormat::kAvif:
      return "image/avif";
  }
  return "image/jpeg";
}

std::optional<OutputFormat> ParseFormat(std::string_view s) {
  if (s == "jpeg" || s == "jpg") return OutputFormat::kJpeg;
  if (s == "webp") return OutputFormat::kWebp;
  if (s == "avif") return OutputFormat::kAvif;
  return std::nullopt;
}

namespace {

// Whether the Accept header lists media type `want` with a non-zero q.
bool Accepts(std::string_view accept, std::string_view want) {
  size_t i = 0;
  while (i < accept.size()) {
    size_t end = accept.find(',', i);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view item = accept.substr(i, end - i);
    i = end + 1;
    size_t semi = item.find(';');
    std::string_view type = item.substr(0, semi);
    while (!type.empty() && std::isspace(static_cast<unsigned char>(type.front())))
      type.remove_prefix(1);
    while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back())))
      type.remove_suffix(1);
    if (type.size() != want.size() ||
        !std::equal(type.begin(), type.end(), want.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      continue;
    }
    if (semi == std::string_view::npos) return true;
    // "q=0", "q=0.0", "q=0.000" refuse; anything else accepts.
    std::string params(item.substr(semi + 1));
    params.erase(std::remove_if(params.begin(), params.end(),
                                [](unsigned char c) { return std::isspace(c); }),
                 params.end());
    size_t q = params.find("q=");
    if (q == std::string::npos) return true;
    std::string value = params.substr(q + 2, params.find(';', q) - (q + 2));
    return value.find_first_not_of("0.") != std::string::npos;
  }
  return false;
}

}  // namespace

OutputFormat NegotiateFormat(std::string_view accept) {
  if (Accepts(accept, "image/avif")) return OutputFormat::kAvif;
  if (Accepts(accept, "image/webp")) return OutputFormat::kWebp;
  return OutputFormat::kJpeg;
}

int EncoderQuality(OutputFormat f, int jpeg_q) {
  jpeg_q = std::clamp(jpeg_q, 1, 100);
  // Piecewise-linear in jpeg_q through measured points: for each JPEG q, the encoder q
  // whose mean SSIM on the corpus photos (at 400 and 1200 px wide) first reaches JPEG's
  // (bench/tools/format_quality.cpp; bench/results/2026-11-30T180000Z-formats).
  struct Point {
    int jpeg, webp, avif;
  };
  static constexpr Point kPoints[] = {
      {1, 1, 1},    {30, 35, 45}, {50, 62, 55},    {70, 82, 65},
      {80, 88, 77}, {90, 95, 88}, {100, 100, 100},
  };
  for (size_t i = 1; i < std::size(kPoints); ++i) {
    const Point& a = kPoints[i - 1];
    const Point& b = kPoints[i];
    if (jpeg_q > b.jpeg) continue;
    const int lo = f == OutputFormat::kWebp ? a.webp : f == OutputFormat::kAvif ? a.avif : a.jpeg;
    const int hi = f == OutputFormat::kWebp ? b.webp : f == OutputFormat::kAvif ? b.avif : b.jpeg;
    return lo + (hi - lo) * (jpeg_q - a.jpeg) / (b.jpeg - a.jpeg);
  }
  return jpeg_q;
}

}  // namespace imgd

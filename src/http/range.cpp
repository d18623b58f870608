#include "http/range.h"

#include <cctype>
#include <charconv>

namespace imgd::http {
namespace {

bool ParseU64(std::string_view s, uint64_t& v) {
  if (s.empty() || s.size() > 19) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

RangeResult ParseRange(std::string_view header, uint64_t size, ByteRange& out) {
  header = Trim(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size()) return RangeResult::kNone;
  for (size_t i = 0; i < kUnit.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kUnit[i]) return RangeResult::kNone;
  }
  std::string_view spec = Trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return RangeResult::kNone;
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeResult::kNone;
  std::string_view first = Trim(spec.substr(0, dash)), last = Trim(spec.substr(dash + 1));
  uint64_t a = 0, b = 0;
  if (first.empty()) {  // suffix: the last N bytes
    if (!ParseU64(last, b)) return RangeResult::kNone;
    if (b == 0 || size == 0) return RangeResult::kUnsatisfiable;
    if (b > size) b = size;
    out = {size - b, b};
    return RangeResult::kSatisfiable;
  }
  if (!ParseU64(first, a)) return RangeResult::kNone;
  if (last.empty()) {
    b = size == 0 ? 0 : size - 1;
  } else {
    if (!ParseU64(last, b) || b < a) return RangeResult::kNone;
  }
  if (a >= size) return RangeResult::kUnsatisfiable;
  if (b >= size) b = size - 1;
  out = {a, b - a + 1};
  return RangeResult::kSatisfiable;
}

}  // namespace imgd::http

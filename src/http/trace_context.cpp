#include "http/trace_context.h"

#include "core/ids.h"

namespace imgd::http {
namespace {

bool LowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// Random ids (FastRandom64: cheap, every request makes one; not secret).
std::string RandomHexId(size_t hex_digits) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  do {
    out.clear();
    while (out.size() < hex_digits) {
      uint64_t r = FastRandom64();
      for (int i = 0; i < 16 && out.size() < hex_digits; ++i, r >>= 4) out += kHex[r & 15];
    }
  } while (AllZero(out));
  return out;
}

}  // namespace

std::optional<TraceContext> ParseTraceparent(std::string_view h) {
  // version(2) - trace-id(32) - parent-id(16) - flags(2) = 55 characters; a later version
  // may append fields after another '-'.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  const std::string_view version = h.substr(0, 2), trace = h.substr(3, 32),
                         parent = h.substr(36, 16), flags = h.substr(53, 2);
  if (!LowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" && h.size() != 55) return std::nullopt;
  if (h.size() > 55 && h[55] != '-') return std::nullopt;
  if (!LowerHex(trace) || !LowerHex(parent) || !LowerHex(flags)) return std::nullopt;
  if (AllZero(trace) || AllZero(parent)) return std::nullopt;
  TraceContext t;
  t.trace_id = std::string(trace);
  t.parent_id = std::string(parent);
  const int f = std::stoi(std::string(flags), nullptr, 16);
  t.sampled = (f & 1) != 0;
  return t;
}

TraceContext StartSpan(std::string_view header) {
  TraceContext t;
  if (auto parsed = ParseTraceparent(header)) {
    t = std::move(*parsed);
  } else {
    t.trace_id = RandomHexId(32);
  }
  t.span_id = RandomHexId(16);
  return t;
}

std::string Traceparent(const TraceContext& t) {
  return "00-" + t.trace_id + "-" + t.span_id + (t.sampled ? "-01" : "-00");
}

}  // namespace imgd::http

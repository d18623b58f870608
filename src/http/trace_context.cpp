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

TraceContext StartSpan(std::string_view header, double sample_ratio) {
  TraceContext t;
  if (auto parsed = ParseTraceparent(header)) {
    t = std::move(*parsed);
  } else {
    t.trace_id = RandomHexId(32);
    t.sampled =
        sample_ratio >= 1 ||
        (sample_ratio > 0 && static_cast<double>(FastRandom64() >> 11) * 0x1.0p-53 < sample_ratio);
  }
  t.span_id = RandomHexId(16);
  return t;
}

std::string Traceparent(const TraceContext& t) { return imgd::Traceparent(t, t.span_id); }

}  // namespace imgd::http

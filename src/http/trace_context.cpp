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
  TraceContext t;
  if (!ParseTraceparentInto(h, t)) return std::nullopt;
  return t;
}

bool ParseTraceparentInto(std::string_view h, TraceContext& t) {
  // version(2) - trace-id(32) - parent-id(16) - flags(2) = 55 characters; a later version
  // may append fields after another '-'.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return false;
  const std::string_view version = h.substr(0, 2), trace = h.substr(3, 32),
                         parent = h.substr(36, 16), flags = h.substr(53, 2);
  if (!LowerHex(version) || version == "ff") return false;
  if (version == "00" && h.size() != 55) return false;
  if (h.size() > 55 && h[55] != '-') return false;
  if (!LowerHex(trace) || !LowerHex(parent) || !LowerHex(flags)) return false;
  if (AllZero(trace) || AllZero(parent)) return false;
  t.trace_id.assign(trace);
  t.parent_id.assign(parent);
  const int low_digit = flags[1] <= '9' ? flags[1] - '0' : flags[1] - 'a' + 10;
  t.sampled = (low_digit & 1) != 0;
  return true;
}

TraceContext StartSpan(std::string_view header, double sample_ratio) {
  TraceContext t;
  StartSpan(t, header, sample_ratio);
  return t;
}

void StartSpan(TraceContext& t, std::string_view header, double sample_ratio) {
  if (!ParseTraceparentInto(header, t)) {
    AssignRandomHexId(t.trace_id, 32);
    t.parent_id.clear();
    t.sampled =
        sample_ratio >= 1 ||
        (sample_ratio > 0 && static_cast<double>(FastRandom64() >> 11) * 0x1.0p-53 < sample_ratio);
  }
  AssignRandomHexId(t.span_id, 16);
}

std::string Traceparent(const TraceContext& t) { return imgd::Traceparent(t, t.span_id); }

}  // namespace imgd::http

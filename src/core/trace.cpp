#include "core/trace.h"

#include "core/ids.h"

namespace imgd {
namespace {
thread_local const TraceContext* t_current = nullptr;
}  // namespace

const TraceContext* CurrentTrace() { return t_current; }

TraceScope::TraceScope(const TraceContext* t) : previous_(t_current) { t_current = t; }
TraceScope::~TraceScope() { t_current = previous_; }

std::string RandomHexId(size_t hex_digits) {
  static const char kHex[] = "0123456789abcdef";
  std::string out(hex_digits, '0');
  do {
    for (size_t at = 0; at < hex_digits;) {
      uint64_t r = FastRandom64();
      for (int i = 0; i < 16 && at < hex_digits; ++i, r >>= 4) out[at++] = kHex[r & 15];
    }
  } while (out.find_first_not_of('0') == std::string::npos);
  return out;
}

std::string Traceparent(const TraceContext& t, const std::string& span_id) {
  return "00-" + t.trace_id + "-" + span_id + (t.sampled ? "-01" : "-00");
}

}  // namespace imgd

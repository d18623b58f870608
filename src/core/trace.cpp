#include "core/trace.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "core/ids.h"

namespace imgd {
namespace {
thread_local const TraceContext* t_current = nullptr;
}  // namespace

const TraceContext* CurrentTrace() { return t_current; }

TraceScope::TraceScope(const TraceContext* t) : previous_(t_current) { t_current = t; }
TraceScope::~TraceScope() { t_current = previous_; }

std::string RandomHexId(size_t hex_digits) {
  std::string out;
  AssignRandomHexId(out, hex_digits);
  return out;
}

void AssignRandomHexId(std::string& out, size_t hex_digits) {
  out.resize(hex_digits);
  for (bool any = false; !any;) {  // not all zero (W3C: an all-zero id is invalid)
    for (size_t at = 0; at < hex_digits; at += 16) {
      const uint64_t r = FastRandom64();
      const size_t n = std::min<size_t>(16, hex_digits - at);
      char word[16];
      WriteHex16(r, word);
      std::memcpy(out.data() + at, word, n);
      any = any ||
            (n == 16 ? r != 0
                     : std::string_view(word, n).find_first_not_of('0') != std::string_view::npos);
    }
  }
}

std::string Traceparent(const TraceContext& t, const std::string& span_id) {
  return "00-" + t.trace_id + "-" + span_id + (t.sampled ? "-01" : "-00");
}

}  // namespace imgd

#pragma once
// The trace a piece of work belongs to (W3C Trace Context ids), carried implicitly: the HTTP
// server makes a request's trace current on every step of its coroutine (see
// core/traced_executor.h), Offload carries it to the pool thread that runs a blocking call,
// and the stores, the log and the span exporter read it from here. Outside a request there
// is none.
#include <string>

namespace imgd {

struct TraceContext {
  std::string trace_id;   // 32 lowercase hex, not all zero
  std::string parent_id;  // the caller's span (16 hex), empty when this request started it
  std::string span_id;    // this request's span (16 hex)
  bool sampled = false;   // recorded and exported (trace-flags bit 0)
};

// The current trace of this thread's work, or null.
const TraceContext* CurrentTrace();

// Makes t current on this thread until destroyed (then the previous one is again).
class TraceScope {
 public:
  explicit TraceScope(const TraceContext* t);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  const TraceContext* previous_;
};

// A random id of hex_digits lowercase hex digits, not all zero (cheap, not secret).
std::string RandomHexId(size_t hex_digits);
// The same, into out (its storage reused: no allocation once it has held one).
void AssignRandomHexId(std::string& out, size_t hex_digits);

// "00-<trace-id>-<span_id>-<flags>": the header naming span_id of trace t as the parent of
// a call made to another service.
std::string Traceparent(const TraceContext& t, const std::string& span_id);

}  // namespace imgd

#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a request
// brings is continued, a request without a valid one starts a new trace. Every request gets
// its own span id; the trace and span ids go into the access log (and, later, to the stores
// and an OTLP exporter).
#include <optional>
#include <string>
#include <string_view>

namespace imgd::http {

struct TraceContext {
  std::string trace_id;   // 32 lowercase hex, not all zero
  std::string parent_id;  // the caller's span (16 hex), empty when this request started it
  std::string span_id;    // this request's span (16 hex)
  bool sampled = false;   // the caller's sampled flag (trace-flags bit 0)
};

// "00-<trace-id>-<parent-id>-<flags>"; nullopt when malformed (wrong lengths, uppercase or
// non-hex digits, all-zero ids, version ff). Versions above 00 are read as 00 when the
// first four fields have the 00 shape, as the spec asks.
std::optional<TraceContext> ParseTraceparent(std::string_view header);

// The request's trace: the parsed header with a new span id, or a new trace.
TraceContext StartSpan(std::string_view traceparent_header);

// The header value naming this request's span, for calls it makes to others.
std::string Traceparent(const TraceContext& t);

}  // namespace imgd::http

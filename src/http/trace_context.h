#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a request
// brings is continued, a request without a valid one starts a new trace. Every request gets
// its own span id; the trace and span ids go into the log lines, to the stores (S3 header,
// PostgreSQL comment) and to the OTLP exporter (core/trace.h).
#include <optional>
#include <string>
#include <string_view>

#include "core/trace.h"

namespace imgd::http {

using imgd::TraceContext;

// "00-<trace-id>-<parent-id>-<flags>"; nullopt when malformed (wrong lengths, uppercase or
// non-hex digits, all-zero ids, version ff). Versions above 00 are read as 00 when the
// first four fields have the 00 shape, as the spec asks.
std::optional<TraceContext> ParseTraceparent(std::string_view header);
// The same into t; false (t unspecified) when malformed.
bool ParseTraceparentInto(std::string_view header, TraceContext& t);

// The request's trace: the parsed header with a new span id (sampled as its caller said),
// or a new trace, sampled with probability sample_ratio.
TraceContext StartSpan(std::string_view traceparent_header, double sample_ratio = 0);
// The same into t, reusing its storage (a kept-alive connection's next request).
void StartSpan(TraceContext& t, std::string_view traceparent_header, double sample_ratio = 0);

// The header value naming this request's span, for calls it makes to others.
std::string Traceparent(const TraceContext& t);

}  // namespace imgd::http

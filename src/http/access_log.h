#pragma once
// What every request leaves behind: its metrics (labels from closed sets only), one
// access-log line and, when its trace is recorded, a server span.
#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/trace_context.h"
#include "obs/metrics.h"

namespace imgd::http {

// The method as a metric label: the methods the API uses, anything else "other".
const char* MethodLabel(boost::beast::http::verb v);

// Whether a client's X-Request-Id may be reused (1-128 of [A-Za-z0-9._-]).
bool ValidRequestId(std::string_view s);

struct RequestRecord {
  const std::string& request_id;
  const TraceContext& trace;
  boost::beast::http::verb method;
  std::string_view raw_method;  // as sent, for the log line only
  const std::string& route;     // the route's template, or "unmatched"
  std::string_view path;
  int status;
  uint64_t bytes_in, bytes_out;
  double seconds;
  const std::string& user_id;  // empty when no key was used
  const std::string& client_ip;
  int64_t started_unix_ns;  // 0 when the trace is not recorded
  bool warm_lane = false;   // answered by the fast lane (fast_lane.h)
};

void RecordRequest(Metrics& metrics, const RequestRecord& r);

}  // namespace imgd::http

#include "http/access_log.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <vector>

#include "core/clock.h"
#include "obs/log.h"
#include "obs/spans.h"

namespace imgd::http {

namespace bhttp = boost::beast::http;

// The method as a metric label: the methods the API uses, anything else "other".
const char* MethodLabel(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
      return "GET";
    case bhttp::verb::head:
      return "HEAD";
    case bhttp::verb::post:
      return "POST";
    case bhttp::verb::put:
      return "PUT";
    case bhttp::verb::patch:
      return "PATCH";
    case bhttp::verb::delete_:
      return "DELETE";
    case bhttp::verb::options:
      return "OPTIONS";
    default:
      return "other";
  }
}

bool ValidRequestId(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

namespace {

// A request's series, resolved once per (registry, route, method, status) and thread: the
// hot path then takes one lock and allocates nothing for its metrics.
struct RequestCells {
  uint64_t registry;  // Metrics::id(): a registry at a freed one's address is another
  std::string route;
  const char* method;
  int status;
  double* requests;
  Metrics::Histogram* duration;
  double* bytes_in;
  double* bytes_out;
  double* warm_lane;
};

const RequestCells& CellsFor(Metrics& metrics, const std::string& route, const char* method,
                             int status) {
  // Routes, methods and statuses are closed sets: a few dozen entries per thread.
  thread_local std::vector<RequestCells> cache;
  for (const RequestCells& c : cache) {
    if (c.status == status && c.method == method && c.registry == metrics.id() &&
        c.route == route) {
      return c;
    }
  }
  cache.push_back({metrics.id(), route, method, status,
                   metrics.CounterCell(
                       "imgd_http_requests_total",
                       {{"route", route}, {"method", method}, {"status", std::to_string(status)}}),
                   metrics.HistogramCell("imgd_http_request_duration_seconds", {{"route", route}}),
                   metrics.CounterCell("imgd_http_request_bytes_total", {}),
                   metrics.CounterCell("imgd_http_response_bytes_total", {}),
                   metrics.CounterCell("imgd_http_warm_lane_answers_total", {})});
  return cache.back();
}

template <typename Integer>
void AppendNumber(std::string& out, Integer v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, end);
}

}  // namespace

void RecordRequest(Metrics& metrics, const RequestRecord& r) {
  const int status = r.status;
  // Labels from closed sets only: a made-up method or path must not mint a series.
  const char* method_label = MethodLabel(r.method);
  const RequestCells& cells = CellsFor(metrics, r.route, method_label, status);
  metrics.Update({{cells.requests, 1},
                  {cells.bytes_in, static_cast<double>(r.bytes_in)},
                  {cells.bytes_out, static_cast<double>(r.bytes_out)},
                  {cells.warm_lane, r.warm_lane ? 1.0 : 0.0}},
                 cells.duration, r.seconds);
  // One access-log line, written by hand into a reused buffer: it runs for every request.
  using namespace std::string_view_literals;
  thread_local std::string line;
  line.clear();
  line += R"({"time":")"sv;
  AppendIsoMs(line, NowMs());
  // Text that needs no escaping goes between the literals' quotes as it is: the request id
  // (checked by ValidRequestId or made here), trace ids (hex), the method (an HTTP token
  // Beast checked), the route (a pattern of ours) and the client's address. What a client
  // can fill freely (the path, the user id) goes through AppendJsonString.
  line += R"(","level":"info","msg":"request","requestId":")"sv;
  line += r.request_id;
  line += R"(","traceId":")"sv;
  line += r.trace.trace_id;
  line += R"(","spanId":")"sv;
  line += r.trace.span_id;
  line += R"(","method":")"sv;
  line += r.raw_method;
  line += R"(","route":")"sv;
  line += r.route;
  line += '"';
  line += R"(,"path":)"sv;
  AppendJsonString(line, r.path);
  line += R"(,"status":)"sv;
  AppendNumber(line, status);
  line += R"(,"bytesIn":)"sv;
  AppendNumber(line, r.bytes_in);
  line += R"(,"bytes":)"sv;
  AppendNumber(line, r.bytes_out);
  const auto micros = static_cast<int64_t>(std::llround(r.seconds * 1e6));
  line += R"(,"durationMs":)"sv;
  AppendNumber(line, micros / 1000);
  line += '.';
  line += static_cast<char>('0' + micros % 1000 / 100);
  line += static_cast<char>('0' + micros % 100 / 10);
  line += static_cast<char>('0' + micros % 10);
  line += R"(,"userId":)"sv;
  if (r.user_id.empty()) {
    line += "null"sv;
  } else {
    AppendJsonString(line, r.user_id);
  }
  line += R"(,"clientIp":")"sv;
  line += r.client_ip;
  line += R"("})"sv;
  LogRawJson(line);
  if (r.started_unix_ns != 0 && Recording(&r.trace)) {
    Span s;
    s.trace_id = r.trace.trace_id;
    s.span_id = r.trace.span_id;
    s.parent_id = r.trace.parent_id;
    s.name = std::string(method_label) + " " + r.route;
    s.kind = Span::Kind::kServer;
    s.start_unix_ns = r.started_unix_ns;
    s.end_unix_ns = UnixNanos();
    s.error = status >= 500;
    s.text_attributes = {{"http.request.method", method_label},
                         {"http.route", r.route},
                         {"url.path", std::string(r.path)},
                         {"client.address", r.client_ip},
                         {"imgd.request_id", r.request_id}};
    s.int_attributes = {{"http.response.status_code", status},
                        {"http.response.body.size", static_cast<int64_t>(r.bytes_out)}};
    ExportSpan(std::move(s));
  }
}

}  // namespace imgd::http

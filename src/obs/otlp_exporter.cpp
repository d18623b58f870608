#include "obs/otlp_exporter.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <stdexcept>

#include "obs/log.h"

namespace imgd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;

std::string OtlpJson(const std::vector<Span>& spans, const std::string& service_name) {
  json::array out;
  for (const Span& s : spans) {
    json::array attributes;
    for (const auto& [k, v] : s.text_attributes) {
      attributes.push_back({{"key", k}, {"value", {{"stringValue", v}}}});
    }
    for (const auto& [k, v] : s.int_attributes) {
      // OTLP/JSON carries 64-bit integers as decimal strings.
      attributes.push_back({{"key", k}, {"value", {{"intValue", std::to_string(v)}}}});
    }
    json::object span{{"traceId", s.trace_id},
                      {"spanId", s.span_id},
                      {"name", s.name},
                      {"kind", static_cast<int>(s.kind)},
                      {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
                      {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
                      {"attributes", std::move(attributes)}};
    if (!s.parent_id.empty()) span["parentSpanId"] = s.parent_id;
    if (s.error) span["status"] = {{"code", 2}};  // STATUS_CODE_ERROR
    out.push_back(std::move(span));
  }
  json::object resource{{"attributes", json::array{{{"key", "service.name"},
                                                    {"value", {{"stringValue", service_name}}}}}}};
  json::object scope{{"scope", {{"name", "imgd"}, {"version", IMGD_VERSION}}},
                     {"spans", std::move(out)}};
  json::object body{
      {"resourceSpans", json::array{json::object{{"resource", std::move(resource)},
                                                 {"scopeSpans", json::array{std::move(scope)}}}}}};
  return json::serialize(body);
}

OtlpExporter::OtlpExporter(OtlpOptions opts, Metrics& metrics)
    : opts_(std::move(opts)), metrics_(metrics) {
  auto u = boost::urls::parse_absolute_uri(opts_.endpoint);
  if (!u || u->scheme() != "http" || u->host().empty()) {
    throw std::invalid_argument(
        "--otlp-endpoint must be an http:// URL, e.g. "
        "http://127.0.0.1:4318/v1/traces");
  }
  host_ = u->host();
  port_ = u->has_port() ? std::string(u->port()) : "80";
  target_ = u->encoded_path().empty() ? "/v1/traces" : std::string(u->encoded_path());
  thread_ = std::thread([this] { Run(); });
}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void OtlpExporter::Export(Span span) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= opts_.max_queue) {
      metrics_.Inc("imgd_trace_spans_dropped_total");
      return;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() == opts_.batch;
  }
  if (wake) cv_.notify_one();
}

void OtlpExporter::Run() {
  for (;;) {
    std::vector<Span> batch;
    bool stopping = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1),
                   [&] { return stop_ || queue_.size() >= opts_.batch; });
      stopping = stop_;
      const size_t n = std::min(queue_.size(), opts_.batch);
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    }
    bool ok = true;
    if (!batch.empty()) {
      ok = Send(OtlpJson(batch, opts_.service_name));
      metrics_.Inc(ok ? "imgd_trace_spans_exported_total" : "imgd_trace_spans_dropped_total", {},
                   static_cast<double>(batch.size()));
      if (!ok) LogJson("warn", "span export failed", {{"endpoint", opts_.endpoint}});
    }
    if (stopping) {
      // Flush at exit while the collector takes batches; one failure ends it.
      std::lock_guard lock(mu_);
      if (queue_.empty() || !ok) return;
    }
  }
}

bool OtlpExporter::Send(const std::string& body) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  bool ok = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        asio::ip::tcp::resolver resolver(ioc);
        auto endpoints = co_await resolver.async_resolve(host_, port_, asio::use_awaitable);
        stream.expires_after(std::chrono::seconds(5));  // connect, send and answer together
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        bhttp::request<bhttp::string_body> req{bhttp::verb::post, target_, 11};
        req.set(bhttp::field::host, host_ + ":" + port_);
        req.set(bhttp::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        co_await bhttp::async_write(stream, req, asio::use_awaitable);
        beast::flat_buffer buf;
        bhttp::response<bhttp::string_body> res;
        co_await bhttp::async_read(stream, buf, res, asio::use_awaitable);
        ok = res.result_int() / 100 == 2;
      },
      asio::detached);
  try {
    ioc.run();
  } catch (const std::exception&) {
    ok = false;
  }
  return ok;
}

}  // namespace imgd

#pragma once
// Sends spans to an OpenTelemetry collector as OTLP/HTTP JSON (POST <endpoint>, e.g.
// http://127.0.0.1:4318/v1/traces). Export() only queues: a background thread sends a batch
// every second or every 512 spans. The queue is bounded (8,192 spans); spans beyond it, and
// batches the collector refuses or cannot take within 5 s, are dropped and counted, never
// waited for: tracing must not slow requests down.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "obs/metrics.h"
#include "obs/spans.h"

namespace imgd {

struct OtlpOptions {
  std::string endpoint;  // http://host:port/path
  std::string service_name = "imgd";
  size_t max_queue = 8192;
  size_t batch = 512;
};

// The OTLP/JSON body for spans of one service (ExportTraceServiceRequest).
std::string OtlpJson(const std::vector<Span>& spans, const std::string& service_name);

class OtlpExporter final : public SpanExporter {
 public:
  // Throws std::invalid_argument when the endpoint is not an http:// URL.
  OtlpExporter(OtlpOptions opts, Metrics& metrics);
  ~OtlpExporter() override;  // sends what is queued (bounded by the send timeout), stops
  void Export(Span span) override;

 private:
  void Run();
  bool Send(const std::string& body);

  OtlpOptions opts_;
  Metrics& metrics_;
  std::string host_, port_, target_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Span> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace imgd

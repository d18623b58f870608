#pragma once
// Store calls timed by operation, for dashboards and alerts:
//   imgd_store_operation_duration_seconds{store,op}  (histogram)
//   imgd_store_errors_total{store,op}
// store is "sqlite", "postgres", "fs" or "s3"; op names the statement ("select images") or
// the request ("put", "get", "multipart-part"). The stores report through this process-wide
// hook so they need no Metrics of their own; before SetStoreMetrics (CLI commands, unit
// tests) reports go nowhere.
#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include "core/trace.h"
#include "obs/metrics.h"

namespace imgd {

void SetStoreMetrics(Metrics* metrics);

// "verb table" for an SQL statement: "select images", "insert blobs", "update uploads",
// "delete images", "begin"; lowercase, at most 40 characters.
std::string StatementOp(std::string_view sql);

// Times one store call from construction to destruction. It counts as failed when it ends
// by an exception that started inside it, unless Expected() was called (a store's way of
// saying the error is the caller's business, such as a lost race that is retried).
// Inside a request it is also a span of the request's trace: a CLIENT span exported when
// the trace is sampled, whose id the store passes on (S3 traceparent header, PostgreSQL
// comment) so the store's own traces hang under it.
class StoreCallTimer {
 public:
  StoreCallTimer(const char* store, std::string op);
  StoreCallTimer(const StoreCallTimer&) = delete;
  StoreCallTimer& operator=(const StoreCallTimer&) = delete;
  ~StoreCallTimer();
  void Expected() { expected_ = true; }
  // The request's trace this call belongs to (null outside requests).
  const TraceContext* trace() const { return trace_; }
  // "00-<trace>-<this call's span>-<flags>", empty outside requests.
  std::string Traceparent() const;

 private:
  const char* store_;
  std::string op_;
  int exceptions_at_start_;
  bool expected_ = false;
  std::chrono::steady_clock::time_point started_;
  const TraceContext* trace_;
  std::string span_id_;  // set inside requests
  int64_t started_unix_ns_ = 0;
};

}  // namespace imgd

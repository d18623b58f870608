#include "obs/metrics.h"

#include <fmt/format.h>

#include <atomic>

namespace imgd {

namespace {
std::atomic<uint64_t> next_registry_id{1};
}  // namespace

Metrics::Metrics() : id_(next_registry_id++) {
  const std::vector<double> latency = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                       0.25,  0.5,    1,     2.5,  5,     10,   30};
  Declare("imgd_http_requests_total", "counter", "HTTP requests by route, method and status.");
  Declare("imgd_http_request_duration_seconds", "histogram",
          "Time from request header to the end of the response, by route.", latency);
  Declare("imgd_http_request_bytes_total", "counter", "Request body bytes received.");
  Declare("imgd_http_response_bytes_total", "counter", "Response body bytes sent.");
  Declare("imgd_http_warm_lane_answers_total", "counter",
          "Requests answered from memory by the warm lane, before routing (included in "
          "imgd_http_requests_total).");
  Declare("imgd_http_connections_active", "gauge", "Open client connections.");
  Declare("imgd_http_requests_in_flight", "gauge", "Requests being handled now.");
  Declare("imgd_uploads_total", "counter", "Uploads by outcome (created, duplicate, rejected).");
  Declare("imgd_upload_bytes_total", "counter", "Bytes of accepted uploads.");
  Declare("imgd_upload_duplicates_total", "counter", "Uploads whose bytes were already stored.");
  Declare("imgd_upload_rejects_total", "counter", "Rejected uploads by reason.");
  Declare("imgd_upload_duration_seconds", "histogram",
          "Time to receive, validate and store one upload.", latency);
  Declare("imgd_presigned_uploads_total", "counter",
          "Pre-signed uploads by step (created, completed, refused, expired).");
  Declare("imgd_resumable_uploads_total", "counter",
          "Resumable (tus) uploads by step (created, completed, terminated).");
  Declare("imgd_resumable_rehashed_bytes_total", "counter",
          "Bytes of resumable uploads read back to rebuild a lost running hash (restarts).");
  Declare("imgd_url_fetches_total", "counter", "imageUrl fetches by result.");
  Declare("imgd_idempotent_replays_total", "counter",
          "Requests answered from an earlier request's stored answer (Idempotency-Key).");
  Declare("imgd_blobs_deleted_total", "counter", "Blobs removed after their last reference.");
  Declare("imgd_transforms_total", "counter", "Transforms run, by decoder path and result.");
  Declare("imgd_transform_duration_seconds", "histogram",
          "Time to make one variant, queueing included, by decoder path.", latency);
  Declare("imgd_transform_queue_wait_seconds", "histogram",
          "Time a transform waited for a pool thread.", latency);
  Declare("imgd_transform_rejects_total", "counter",
          "Transforms refused, by reason (queue_full, memory, timeout: 503; too_large: 400).");
  Declare("imgd_variant_cache_requests_total", "counter",
          "Variant lookups by result (memory_hit, store_hit, coalesced, miss).");
  Declare("imgd_variant_store_errors_total", "counter", "Variants that could not be stored.");
  Declare("imgd_variant_store_evictions_total", "counter",
          "Stored variants removed, least recently used first, to stay within "
          "--variant-max-per-image, --variant-max-bytes-per-image and --variant-store-bytes.");
  Declare("imgd_variant_store_deferred_total", "counter",
          "Variants made but not stored: a size not in --allowed-sizes made for the first time.");
  Declare("imgd_store_operation_duration_seconds", "histogram",
          "Store calls (statements, blob requests) by store and operation.", latency);
  Declare("imgd_store_errors_total", "counter", "Store calls that failed, by store and operation.");
  Declare("imgd_rate_limited_total", "counter",
          "Requests refused by an abuse limit (client_requests, key_requests, upload_bytes, "
          "concurrent_uploads).");
  Declare("imgd_http_shed_total", "counter",
          "Requests refused with a 503 by overload shedding (--shed-queue-delay-ms).");
  Declare("imgd_overload_shed_fraction", "gauge",
          "The fraction of new requests overload shedding refuses now (the most of any network "
          "thread).");
  Declare("imgd_overload_queue_delay_seconds", "gauge",
          "How late the last probe of a network thread's queue ran: the wait a request now "
          "has before imgd reads it (the most of any network thread).");
  Declare("imgd_http_connections_refused_total", "counter",
          "Connections closed at once: over --max-connections or --max-connections-per-ip.");
  Declare("imgd_trace_spans_exported_total", "counter", "Spans the OTLP collector accepted.");
  Declare("imgd_trace_spans_dropped_total", "counter",
          "Spans dropped: the export queue was full or the collector failed.");
  Declare("imgd_similarity_backfill_images_total", "counter",
          "Images the similarity backfill went through, by result (hashed, indexed, no-hash, "
          "no-bytes).");
  Declare("imgd_similarity_backfill_state", "gauge",
          "The similarity backfill on this node: 0 not started, 1 running, 2 done (now or on an "
          "earlier start).");
  Declare("imgd_edge_purges_enqueued_total", "counter",
          "Edge purges recorded in the outbox (one per edge and delivery).");
  Declare("imgd_edge_purges_sent_total", "counter", "Edge purges an edge acknowledged, by edge.");
  Declare("imgd_edge_purges_failed_total", "counter",
          "Edge purge deliveries that failed (retried with backoff), by edge.");
  Declare("imgd_edge_purges_dropped_total", "counter",
          "Outbox purges for edges no longer configured, dropped.");
  Declare("imgd_edge_purges_pending", "gauge", "Edge purges not acknowledged yet, by edge.");
  Declare("imgd_edge_purge_oldest_pending_seconds", "gauge",
          "Age of the oldest edge purge not acknowledged yet, by edge (0 when none).");
  Declare("imgd_tls_handshake_failures_total", "counter",
          "TLS handshakes that failed: old protocol versions, plain HTTP on the HTTPS port, "
          "clients that stalled past --header-timeout.");
}

void Metrics::Declare(const std::string& name, const std::string& type, const std::string& help,
                      std::vector<double> buckets) {
  families_[name] = Family{type, help, std::move(buckets)};
}

void Metrics::Key(const Labels& labels, std::string& out) {
  out.clear();
  for (const auto& [n, v] : labels) {
    if (!out.empty()) out += ',';
    out += n;
    out += "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
}

template <typename T>
T& Metrics::Series(std::map<std::string, std::map<std::string, T, std::less<>>, std::less<>>& all,
                   const std::string& name, const Labels& labels) {
  thread_local std::string key;
  Key(labels, key);
  auto family = all.find(name);
  if (family == all.end())
    family = all.emplace(name, std::map<std::string, T, std::less<>>{}).first;
  auto it = family->second.find(std::string_view(key));
  if (it == family->second.end()) it = family->second.emplace(key, T{}).first;
  return it->second;
}

void Metrics::Inc(const std::string& name, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  Series(values_, name, labels) += by;
}

void Metrics::Set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  Series(values_, name, labels) = value;
}

void Metrics::Observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  ObserveInto(HistogramLocked(name, labels), value);
}

Metrics::Histogram& Metrics::HistogramLocked(const std::string& name, const Labels& labels) {
  auto& h = Series(histograms_, name, labels);
  if (!h.buckets) {
    h.buckets = &families_[name].buckets;
    h.counts.assign(h.buckets->size(), 0);
  }
  return h;
}

void Metrics::ObserveInto(Histogram& h, double value) {
  for (size_t i = 0; i < h.buckets->size(); ++i) {
    if (value <= (*h.buckets)[i]) ++h.counts[i];
  }
  ++h.count;
  h.sum += value;
}

double* Metrics::CounterCell(const std::string& name, const Labels& labels) {
  std::lock_guard lock(mu_);
  return &Series(values_, name, labels);
}

Metrics::Histogram* Metrics::HistogramCell(const std::string& name, const Labels& labels) {
  std::lock_guard lock(mu_);
  return &HistogramLocked(name, labels);
}

void Metrics::Update(std::initializer_list<Add> adds, Histogram* h, double value) {
  std::lock_guard lock(mu_);
  for (const Add& a : adds) *a.cell += a.by;
  if (h) ObserveInto(*h, value);
}

void Metrics::AddCallback(const std::string& name, std::function<double()> fn) {
  std::lock_guard lock(mu_);
  if (!families_.count(name)) Declare(name, "gauge", name);
  callbacks_[name] = std::move(fn);
}

std::string Metrics::Render() {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, fam] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, fam.help, name, fam.type);
    if (auto cb = callbacks_.find(name); cb != callbacks_.end()) {
      out += fmt::format("{} {}\n", name, cb->second());
      continue;
    }
    if (fam.type == "histogram") {
      auto hit = histograms_.find(name);
      if (hit == histograms_.end()) continue;
      for (const auto& [key, h] : hit->second) {
        std::string sep = key.empty() ? "" : ",";
        for (size_t i = 0; i < fam.buckets.size(); ++i) {
          out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, key, sep, fam.buckets[i],
                             h.counts[i]);
        }
        out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, key, sep, h.count);
        std::string lbl = key.empty() ? "" : "{" + key + "}";
        out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, lbl, h.sum, name, lbl, h.count);
      }
      continue;
    }
    auto vit = values_.find(name);
    if (vit == values_.end()) {
      if (fam.type == "counter" || fam.type == "gauge") out += fmt::format("{} 0\n", name);
      continue;
    }
    for (const auto& [key, v] : vit->second) {
      out += key.empty() ? fmt::format("{} {}\n", name, v)
                         : fmt::format("{}{{{}}} {}\n", name, key, v);
    }
  }
  return out;
}

}  // namespace imgd

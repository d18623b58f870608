#include "cli/serve_command.h"

#include <malloc.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "api/routes.h"
#include "cli/app.h"
#include "cli/periodic_tasks.h"
#include "core/clock.h"
#include "core/rate_limiter.h"
#include "http/server.h"
#include "obs/log.h"
#include "obs/otlp_exporter.h"
#include "obs/spans.h"
#include "obs/store_metrics.h"
#include "service/content_access.h"
#include "service/similarity_backfill.h"

namespace imgd::cli {

namespace {
// Each connection holds a descriptor, and so does each large cached variant's sendfile copy
// (at most 256): the soft limit (often 1,024) is raised to the hard one, as servers do.
void RaiseOpenFileLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  const rlim_t before = lim.rlim_cur;
  // An unlimited hard limit still stops at fs.nr_open (1,048,576 by default).
  lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? 1u << 20 : lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    LogJson(
        "warn", "could not raise the open-file limit",
        {{"soft", static_cast<uint64_t>(before)}, {"hard", static_cast<uint64_t>(lim.rlim_max)}});
  }
}
}  // namespace

int RunServe(Config& cfg) {
  std::string host;
  unsigned short port = 0;
  SplitHostPort(cfg.listen, host, port);
  cfg.Finalize(cfg.listen);
  if (!LockDataDir(cfg.data_dir)) {
    std::cerr << "imgd: another imgd process is using " << cfg.data_dir << std::endl;
    return 1;
  }
  App app(cfg);
  // Store calls report their timing to this server's /metrics until it stops.
  SetStoreMetrics(&app.metrics);
  struct StoreMetricsOff {
    ~StoreMetricsOff() { SetStoreMetrics(nullptr); }
  } store_metrics_off;

  // Staged files left by a crash belong to no live request at startup.
  size_t swept = app.blobs->SweepStaging(NowMs() + 1);
  if (swept > 0) LogJson("info", "removed leftover staged files", {{"count", swept}});
  // The stored variants, listed once off the start path; bounds hold from then on.
  boost::asio::post(app.blocking, [&app] {
    try {
      app.transforms->RefreshVariantLedger();
    } catch (const std::exception& e) {
      LogJson("error", "listing stored variants failed", {{"error", e.what()}});
    }
  });
  if (auto key = app.users->EnsureAdmin(cfg.admin_key)) {
    std::cout << "imgd admin key (shown once, store it now): " << *key << std::endl;
  }

  http::Router router;
  http::ServerOptions so;
  so.host = host;
  so.port = port;
  so.max_body_bytes = cfg.max_upload_bytes;
  so.drain_timeout = std::chrono::seconds(cfg.drain_timeout_s);
  so.header_timeout = std::chrono::seconds(cfg.header_timeout_s);
  so.watched_pools = {&app.cpu, &app.blocking};
  so.shed_queue_delay = std::chrono::milliseconds(cfg.shed_queue_delay_ms);
  so.fast_lane = cfg.warm_lane;
  so.max_connections = static_cast<size_t>(cfg.max_connections);
  so.max_connections_per_ip = static_cast<size_t>(cfg.max_connections_per_ip);
  std::unique_ptr<OtlpExporter> otlp;
  if (!cfg.otlp_endpoint.empty()) {
    OtlpOptions oo;
    oo.endpoint = cfg.otlp_endpoint;
    otlp = std::make_unique<OtlpExporter>(oo, app.metrics);
    so.trace_sample_ratio = cfg.trace_sample_ratio;
  }
  SetSpanExporter(otlp.get());
  struct SpanExporterOff {
    ~SpanExporterOff() { SetSpanExporter(nullptr); }
  } span_exporter_off;
  so.tls_cert = cfg.tls_cert;
  so.tls_key = cfg.tls_key;
  RateLimiter ip_requests(cfg.rate_limit_ip, 2 * cfg.rate_limit_ip);
  RateLimiter key_requests(cfg.rate_limit_key, 2 * cfg.rate_limit_key);
  // A minute's worth, and never less than one upload of the largest accepted size.
  RateLimiter upload_bytes(
      cfg.rate_limit_upload_bytes,
      std::max(cfg.rate_limit_upload_bytes * 60, static_cast<double>(cfg.max_upload_bytes)));
  if (ip_requests.enabled()) so.admit = api::ClientRequestLimit(ip_requests, app.metrics);
  http::Server server(so, router, app.metrics, app.blocking);
  PeriodicTasks maintenance;
  maintenance.Add("sweep", std::chrono::seconds(cfg.gc_interval_s),
                  [&app, grace = cfg.gc_grace_s] { Sweep(app, grace); });
  // The allocator keeps freed transform buffers for reuse (see main's mallopt); every half
  // minute what is still free goes back to the system, so a burst of large transforms does
  // not hold its peak, and memory tracks what is live.
  maintenance.Add("memory-trim", std::chrono::seconds(30), [] { malloc_trim(0); });
  auto ep = server.Listen();
  std::string bound =
      (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) +
      ":" + std::to_string(ep.port());
  if (cfg.public_base_url == cfg.Scheme() + "://" + cfg.listen) {
    cfg.public_base_url = cfg.Scheme() + "://" + bound;
  }

  ContentAccessOptions ao;
  ao.base_url = cfg.public_base_url;
  ao.signed_delivery = cfg.signed_delivery;
  ao.url_ttl_s = cfg.signed_url_ttl_s;
  ao.cache_control = cfg.cache_control;
  ContentAccess access(*app.delivery_signer, ao);
  DeliveryService delivery(*app.images, *app.transforms, access);
  api::ApiDeps deps{*app.users,
                    *app.images,
                    *app.transforms,
                    *app.direct_uploads,
                    *app.url_uploads,
                    *app.presigned,
                    *app.resumable,
                    *app.idempotency,
                    delivery,
                    app.metrics,
                    Pools{app.blocking, app.cpu},
                    cfg.public_base_url,
                    cfg.cache_control,
                    cfg.max_inline_bytes,
                    access};
  deps.readiness_checks = {{"meta", [&app] { app.meta->Ping(); }},
                           {"blob", [&app] { app.blobs->Ping(); }}};
  if (key_requests.enabled()) deps.key_requests = &key_requests;
  if (upload_bytes.enabled()) deps.upload_bytes = &upload_bytes;
  deps.max_concurrent_uploads = cfg.max_concurrent_uploads;
  deps.max_concurrent_uploads_per_key = cfg.max_concurrent_uploads_per_key;
  api::RegisterRoutes(router, std::move(deps));
  LogJson("info", "imgd started",
          {{"listen", bound},
           {"meta", cfg.meta_url},
           {"blob", cfg.blob_url},
           {"version", IMGD_VERSION}});
  std::cout << "imgd listening on " << cfg.Scheme() << "://" << bound << std::endl;
  maintenance.Start();
  app.edge_purger->Start();
  // Images stored before perceptual hashes: hashed and indexed once, in the background.
  std::atomic<bool> stop_backfill{false};
  std::thread backfill([&app, &stop_backfill] {
    try {
      SimilarityBackfill(*app.meta, *app.meta, *app.blobs, app.metrics, app.publish->options().jpeg)
          .Run(stop_backfill);
    } catch (const std::exception& e) {
      LogJson("error", "similarity backfill failed; it runs again at the next start",
              {{"error", e.what()}});
    }
  });
  // A peer gone mid-send is an error code, not a signal: sendfile(2) has no MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  RaiseOpenFileLimit();
  server.Run(cfg.io_threads > 0 ? cfg.io_threads : Cores());
  stop_backfill = true;
  backfill.join();
  maintenance.Stop();
  app.edge_purger->Stop();
  // Work still ending on the pools (the tail of an offloaded call, a background variant
  // store) holds executors of the server's io_context: it must finish before the server,
  // and with it the io_context, is destroyed.
  app.blocking.join();
  app.cpu.join();
  FlushLogs();
  return 0;
}

}  // namespace imgd::cli

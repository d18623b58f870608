// The imgd command: serve, user create, gc, migrate.
#include <fcntl.h>
#include <malloc.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "api/routes.h"
#include "blob/blob_store.h"
#include "cli/migrate_command.h"
#include "cli/upload_command.h"
#include "config/config.h"
#include "core/circuit_breaker.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "core/memory_source.h"
#include "core/rate_limiter.h"
#include "core/url_signer.h"
#include "http/server.h"
#include "image/jpeg_validate.h"
#include "image/transform.h"
#include "image/vips_decode.h"
#include "meta/meta_store.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "obs/otlp_exporter.h"
#include "obs/store_metrics.h"
#include "service/idempotency_service.h"
#include "service/image_service.h"
#include "service/transform_service.h"
#include "service/upload_service.h"
#include "service/user_service.h"

namespace {

using namespace imgd;

int Cores() { return std::max(1u, std::thread::hardware_concurrency()); }

// One process at a time owns a data directory for writing blobs: the in-process blob
// locks (see BlobLocks) are what keep uploads, deletes and sweeps of the same content
// apart. Returns false when another imgd holds it. The lock lasts until exit.
bool LockDataDir(const std::string& data_dir) {
  std::filesystem::create_directories(data_dir);
  int fd = ::open((std::filesystem::path(data_dir) / "imgd.lock").c_str(),
                  O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  return fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
}

void AddStoreOptions(CLI::App* cmd, Config& cfg) {
  cmd->add_option("--data", cfg.data_dir, "data directory")->envname("IMGD_DATA_DIR");
  cmd->add_option("--meta", cfg.meta_url, "metadata store URL (sqlite://...)")
      ->envname("IMGD_META_URL");
  cmd->add_option("--blob", cfg.blob_url, "blob store URL (file://...)")->envname("IMGD_BLOB_URL");
}

// The stores and services every command works with.
struct App {
  explicit App(Config& cfg)
      : blocking(static_cast<size_t>(cfg.blocking_threads)),
        cpu(static_cast<size_t>(cfg.cpu_threads > 0 ? cfg.cpu_threads : Cores())) {
    std::filesystem::create_directories(cfg.data_dir);
    meta = OpenMetaStore(cfg.meta_url);
    meta->Migrate();
    blobs = OpenBlobStore(cfg.blob_url);
    ImageServiceOptions opts;
    opts.max_upload_bytes = cfg.max_upload_bytes;
    opts.jpeg.max_pixels = cfg.max_pixels;
    opts.jpeg.max_decode_memory = cfg.max_decode_memory;
    opts.jpeg.max_scans = cfg.max_jpeg_scans;
    opts.jpeg.decode_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(cfg.validate_timeout_s * 1000));
    opts.image_cache_ttl =
        std::chrono::milliseconds(static_cast<int64_t>(cfg.image_cache_ttl * 1000));
    users = std::make_unique<UserService>(*meta, Pools{blocking, cpu});
    images = std::make_unique<ImageService>(*meta, *blobs, Pools{blocking, cpu}, metrics, opts);
    TransformServiceOptions to;
    to.pool.threads = cfg.transform_threads > 0 ? cfg.transform_threads : Cores();
    to.pool.max_queued = cfg.transform_queue;
    to.pool.memory_budget = cfg.transform_memory;
    to.timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.transform_timeout_s * 1000));
    to.cache_bytes = cfg.variant_cache_bytes;
    to.store_variants = cfg.store_variants;
    to.variant_bounds.per_original_count = cfg.variant_max_per_image;
    to.variant_bounds.per_original_bytes = cfg.variant_max_bytes_per_image;
    to.variant_bounds.total_bytes = cfg.variant_store_bytes;
    to.limits.max_dimension = cfg.max_transform_dimension;
    to.limits.max_output_pixels = cfg.max_output_pixels;
    to.limits.max_request_memory = cfg.transform_request_memory;
    to.limits.allowed_sizes = ParseSizeList(cfg.allowed_sizes);
    to.limits.only_allowed_sizes = cfg.only_allowed_sizes;
    if (cfg.only_allowed_sizes && to.limits.allowed_sizes.empty()) {
      throw std::invalid_argument("--only-allowed-sizes needs --allowed-sizes");
    }
    auto background = ParseHexColour(cfg.background);
    if (!background) throw std::invalid_argument("--background must be 6 hex digits (RRGGBB)");
    to.limits.default_background = *background;
    transforms = std::make_unique<TransformService>(*blobs, Pools{blocking, cpu}, metrics, to);
    images->OnBlobReleased(
        [t = transforms.get()](const std::string& sha) { t->DropVariants(sha); });

    auto keys = UrlSigner::ParseKeys(cfg.upload_signing_keys);
    if (keys.empty()) {
      // Kept in the database, so every node sharing it signs and verifies alike.
      keys.push_back({"k0", meta->GetOrCreateSecret("upload-signing-key", RandomToken(32))});
    }
    signer = std::make_unique<UrlSigner>(std::move(keys));
    auto delivery_keys = UrlSigner::ParseKeys(cfg.delivery_signing_keys);
    if (delivery_keys.empty()) {
      delivery_keys.push_back(
          {"d0", meta->GetOrCreateSecret("delivery-signing-key", RandomToken(32))});
    }
    delivery_signer = std::make_unique<UrlSigner>(std::move(delivery_keys));
    FetchOptions fo;
    fo.policy = AddressPolicy(AddressPolicy::ParseAllowList(cfg.fetch_allow));
    fo.connect_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(cfg.fetch_connect_timeout_s * 1000));
    fo.total_timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.fetch_timeout_s * 1000));
    fo.max_bytes = cfg.max_upload_bytes;
    fetcher = std::make_unique<UrlFetcher>(std::move(fo));
    UploadServiceOptions uo;
    uo.presign_ttl_ms = int64_t{cfg.presign_ttl_s} * 1000;
    uo.resumable_ttl_ms = int64_t{cfg.resumable_ttl_s} * 1000;
    uo.max_upload_bytes = cfg.max_upload_bytes;
    uploads = std::make_unique<UploadService>(*images, *meta, *blobs, Pools{blocking, cpu}, metrics,
                                              *signer, *fetcher, uo);
    idempotency =
        std::make_unique<IdempotencyService>(*meta, Pools{blocking, cpu}, IdempotencyOptions{});
    // 0 closed, 1 open (failing fast), 2 half-open (probing); always 0 for the embedded
    // stores, which have no breaker (so dashboards and alerts work the same on both).
    const CircuitBreaker* mb = meta->breaker();
    metrics.AddCallback("imgd_meta_circuit_state",
                        [mb] { return mb ? static_cast<double>(mb->state()) : 0.0; });
    const CircuitBreaker* bb = blobs->breaker();
    metrics.AddCallback("imgd_blob_circuit_state",
                        [bb] { return bb ? static_cast<double>(bb->state()) : 0.0; });
  }
  ~App() {
    blocking.join();
    cpu.join();
  }
  boost::asio::thread_pool blocking;
  boost::asio::thread_pool cpu;
  Metrics metrics;
  std::unique_ptr<MetaStore> meta;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<UserService> users;
  std::unique_ptr<ImageService> images;
  std::unique_ptr<TransformService> transforms;
  std::unique_ptr<UrlSigner> signer;           // pre-signed upload URLs
  std::unique_ptr<UrlSigner> delivery_signer;  // signed content URLs
  std::unique_ptr<UrlFetcher> fetcher;
  std::unique_ptr<UploadService> uploads;
  std::unique_ptr<IdempotencyService> idempotency;
};

struct SweepCounts {
  size_t staged = 0, orphans = 0, uploads = 0, idempotency_keys = 0;
};

// Removes leftovers (staged uploads, unreferenced blobs) untouched for grace_s seconds,
// and whatever expired: pending images, resumable uploads, idempotency records.
SweepCounts Sweep(App& app, int64_t grace_s) {
  const int64_t now = NowMs();
  const int64_t cutoff = now - grace_s * 1000;
  SweepCounts c;
  std::tie(c.staged, c.orphans) = app.images->CollectGarbage(cutoff, cutoff);
  c.uploads = app.uploads->Sweep(now, cutoff);
  c.idempotency_keys = app.idempotency->Sweep(now);
  // Variants other nodes stored are counted against the bounds from here on.
  app.transforms->RefreshVariantLedger();
  if (c.staged + c.orphans + c.uploads + c.idempotency_keys > 0) {
    LogJson("info", "sweep",
            {{"stagedRemoved", c.staged},
             {"orphansRemoved", c.orphans},
             {"expiredRemoved", c.uploads},
             {"idempotencyKeysRemoved", c.idempotency_keys}});
  }
  return c;
}

int Serve(Config& cfg) {
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
  so.max_connections = static_cast<size_t>(cfg.max_connections);
  so.max_connections_per_ip = static_cast<size_t>(cfg.max_connections_per_ip);
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    throw std::invalid_argument("--tls-cert and --tls-key go together");
  }
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
  if (ip_requests.enabled()) so.client_requests = &ip_requests;
  http::Server server(so, router, app.metrics, app.blocking);
  server.AddPeriodic("sweep", std::chrono::seconds(cfg.gc_interval_s),
                     [&app, grace = cfg.gc_grace_s] { Sweep(app, grace); });
  // The allocator keeps freed transform buffers for reuse (see main's mallopt); every half
  // minute what is still free goes back to the system, so a burst of large transforms does
  // not hold its peak, and memory tracks what is live.
  server.AddPeriodic("memory-trim", std::chrono::seconds(30), [] { malloc_trim(0); });
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
  api::ApiDeps deps{*app.users,
                    *app.images,
                    *app.transforms,
                    *app.uploads,
                    *app.idempotency,
                    *app.meta,
                    *app.blobs,
                    app.metrics,
                    Pools{app.blocking, app.cpu},
                    cfg.public_base_url,
                    cfg.cache_control,
                    cfg.max_inline_bytes,
                    access};
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
  server.Run(cfg.io_threads > 0 ? cfg.io_threads : Cores());
  // Work still ending on the pools (the tail of an offloaded call, a background variant
  // store) holds executors of the server's io_context: it must finish before the server,
  // and with it the io_context, is destroyed.
  app.blocking.join();
  app.cpu.join();
  FlushLogs();
  return 0;
}

struct TransformArgs {
  std::string input, output;
  TransformSpec spec;
  std::string fit = "cover";
  std::string path = "auto";
  std::string background;
  int repeat = 1;
};

// imgd transform: the server's pipeline on a local file (validation included).
int TransformFile(const TransformArgs& a, const Config& cfg) {
  std::ifstream in(a.input, std::ios::binary);
  if (!in) {
    std::cerr << "imgd transform: cannot read " << a.input << std::endl;
    return 1;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  MemorySource src(std::move(bytes));
  JpegLimits limits;
  limits.max_pixels = cfg.max_pixels;
  limits.max_decode_memory = cfg.max_decode_memory;
  ValidateJpeg(src, limits);
  TransformSpec spec = a.spec;
  auto fit = ParseFit(a.fit);
  if (!fit) throw BadRequest("--fit must be one of cover, contain, fill, inside");
  spec.fit = *fit;
  TransformLimits tl;
  if (!a.background.empty()) {
    auto background = ParseHexColour(a.background);
    if (!background) throw BadRequest("--bg must be 6 hex digits (RRGGBB)");
    spec.background = *background;
  }
  CheckTransformSpec(spec, tl, "--w", "--h");
  TransformOptions opts;
  opts.path = a.path == "fast"   ? DecodePath::kFast
              : a.path == "vips" ? DecodePath::kVips
                                 : DecodePath::kAuto;
  TransformResult r;
  std::vector<double> ms;
  for (int i = 0; i < std::max(1, a.repeat); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    r = TransformJpeg(src, spec, opts);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::ofstream out(a.output, std::ios::binary);
  out.write(r.jpeg.data(), static_cast<std::streamsize>(r.jpeg.size()));
  if (!out.flush()) {
    std::cerr << "imgd transform: cannot write " << a.output << std::endl;
    return 1;
  }
  std::sort(ms.begin(), ms.end());
  std::cout << r.width << "x" << r.height << " " << r.jpeg.size() << " bytes, path " << r.path
            << ", " << ms[ms.size() / 2] << " ms (median of " << ms.size() << ")" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Transforms allocate tens of MB per image (decode buffers, a progressive file's
  // coefficients). Above glibc's default threshold each allocation is a fresh mmap whose
  // page faults cost more than the decoding itself; keep such blocks in the heap for reuse.
  // Admission control bounds how much can be live at once.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  CLI::App cli{"imgd: upload, store, resize and deliver JPEG images"};
  cli.require_subcommand(1);
  Config cfg;

  auto* serve = cli.add_subcommand("serve", "run the HTTP server");
  serve->add_option("--listen", cfg.listen, "HOST:PORT to listen on (port 0 = any free port)")
      ->envname("IMGD_LISTEN");
  AddStoreOptions(serve, cfg);
  serve->add_option("--public-base-url", cfg.public_base_url, "base of imageUrl links")
      ->envname("IMGD_PUBLIC_BASE_URL");
  serve->add_option("--max-upload-bytes", cfg.max_upload_bytes, "largest accepted upload")
      ->envname("IMGD_MAX_UPLOAD_BYTES");
  serve->add_option("--max-pixels", cfg.max_pixels, "largest accepted width*height")
      ->envname("IMGD_MAX_PIXELS");
  serve
      ->add_option("--max-decode-memory", cfg.max_decode_memory,
                   "memory bound for validating one JPEG")
      ->envname("IMGD_MAX_DECODE_MEMORY");
  serve
      ->add_option("--max-jpeg-scans", cfg.max_jpeg_scans,
                   "most scans an uploaded JPEG may have (each is a pass over the image); "
                   "more get 422 too-many-scans")
      ->envname("IMGD_MAX_JPEG_SCANS")
      ->check(CLI::Range(1, 10000));
  serve
      ->add_option("--validate-timeout", cfg.validate_timeout_s,
                   "seconds of CPU-pool time one upload's decode check may take; then 422")
      ->envname("IMGD_VALIDATE_TIMEOUT")
      ->check(CLI::Range(0.01, 3600.0));
  serve
      ->add_option("--max-inline-bytes", cfg.max_inline_bytes,
                   "largest image returned inline by ?include=imageData")
      ->envname("IMGD_MAX_INLINE_BYTES");
  serve->add_option("--presign-ttl", cfg.presign_ttl_s, "seconds a pre-signed upload URL works")
      ->envname("IMGD_PRESIGN_TTL")
      ->check(CLI::Range(1, 7 * 86400));
  serve
      ->add_option("--resumable-ttl", cfg.resumable_ttl_s,
                   "seconds a resumable upload may take before it is swept")
      ->envname("IMGD_RESUMABLE_TTL")
      ->check(CLI::Range(1, 30 * 86400));
  serve
      ->add_option("--upload-signing-keys", cfg.upload_signing_keys,
                   "id:secret,... for upload URLs; the first signs (default: a key kept in the "
                   "metadata store)")
      ->envname("IMGD_UPLOAD_SIGNING_KEYS");
  serve
      ->add_option("--signed-delivery", cfg.signed_delivery,
                   "content URLs need ?expires=&kid=&sig= (or the owner's key); the API returns "
                   "signed imageUrl/variantUrl (true/false; private images always need one)")
      ->envname("IMGD_SIGNED_DELIVERY");
  serve
      ->add_option("--delivery-signing-keys", cfg.delivery_signing_keys,
                   "id:secret,... for content URLs; the first signs, all verify (default: a key "
                   "kept in the metadata store)")
      ->envname("IMGD_DELIVERY_SIGNING_KEYS");
  serve
      ->add_option("--signed-url-ttl", cfg.signed_url_ttl_s,
                   "seconds the signed content URLs the API returns stay valid (at least)")
      ->envname("IMGD_SIGNED_URL_TTL")
      ->check(CLI::Range(60, 365 * 86400));
  serve
      ->add_option("--fetch-allow", cfg.fetch_allow,
                   "addresses imageUrl may reach despite being special (loopback, private...): "
                   "127.0.0.1:8080,10.0.0.0/8,[::1]:9000")
      ->envname("IMGD_FETCH_ALLOW");
  serve->add_option("--fetch-connect-timeout", cfg.fetch_connect_timeout_s, "seconds")
      ->envname("IMGD_FETCH_CONNECT_TIMEOUT")
      ->check(CLI::Range(0.001, 600.0));
  serve->add_option("--fetch-timeout", cfg.fetch_timeout_s, "seconds for a whole imageUrl fetch")
      ->envname("IMGD_FETCH_TIMEOUT")
      ->check(CLI::Range(0.001, 3600.0));
  serve->add_option("--cache-control", cfg.cache_control, "Cache-Control of image content")
      ->envname("IMGD_CACHE_CONTROL");
  serve->add_option("--io-threads", cfg.io_threads, "network threads (0 = one per core)")
      ->envname("IMGD_IO_THREADS");
  serve->add_option("--blocking-threads", cfg.blocking_threads, "threads for disk and database")
      ->envname("IMGD_BLOCKING_THREADS")
      ->check(CLI::Range(1, 256));
  serve->add_option("--cpu-threads", cfg.cpu_threads, "threads for decoding (0 = one per core)")
      ->envname("IMGD_CPU_THREADS");
  serve->add_option("--drain-timeout", cfg.drain_timeout_s, "seconds to finish requests on SIGTERM")
      ->envname("IMGD_DRAIN_TIMEOUT");
  serve
      ->add_option("--rate-limit-ip", cfg.rate_limit_ip,
                   "requests/s per client address, bursts of twice that (0 = off; behind a CDN "
                   "or proxy every request shares its address: raise or turn off)")
      ->envname("IMGD_RATE_LIMIT_IP")
      ->check(CLI::Range(0.0, 1e9));
  serve
      ->add_option("--rate-limit-key", cfg.rate_limit_key,
                   "requests/s per API key, bursts of twice that (0 = off)")
      ->envname("IMGD_RATE_LIMIT_KEY")
      ->check(CLI::Range(0.0, 1e9));
  serve
      ->add_option("--rate-limit-upload-bytes", cfg.rate_limit_upload_bytes,
                   "upload bytes/s per API key, bursts of a minute's worth or one largest upload "
                   "(0 = off)")
      ->envname("IMGD_RATE_LIMIT_UPLOAD_BYTES")
      ->check(CLI::Range(0.0, 1e15));
  serve
      ->add_option("--max-concurrent-uploads", cfg.max_concurrent_uploads,
                   "uploads receiving bytes at once, all users together; more get 503 (0 = no cap)")
      ->envname("IMGD_MAX_CONCURRENT_UPLOADS")
      ->check(CLI::Range(0, 1000000));
  serve
      ->add_option(
          "--max-concurrent-uploads-per-key", cfg.max_concurrent_uploads_per_key,
          "uploads one API key may have receiving bytes at once; more get 503 (0 = no cap)")
      ->envname("IMGD_MAX_CONCURRENT_UPLOADS_PER_KEY")
      ->check(CLI::Range(0, 1000000));
  serve
      ->add_option("--max-connections", cfg.max_connections,
                   "open connections; more get 503 and are closed")
      ->envname("IMGD_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 10000000));
  serve
      ->add_option("--max-connections-per-ip", cfg.max_connections_per_ip,
                   "open connections from one client address; more get 503 and are closed")
      ->envname("IMGD_MAX_CONNECTIONS_PER_IP")
      ->check(CLI::Range(1, 10000000));
  serve
      ->add_option("--header-timeout", cfg.header_timeout_s,
                   "seconds a request header may take once its first byte arrived")
      ->envname("IMGD_HEADER_TIMEOUT")
      ->check(CLI::Range(1, 3600));
  serve->add_option("--tls-cert", cfg.tls_cert, "PEM certificate chain: serve HTTPS (TLS 1.2+)")
      ->envname("IMGD_TLS_CERT")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", cfg.tls_key, "PEM private key of --tls-cert")
      ->envname("IMGD_TLS_KEY")
      ->check(CLI::ExistingFile);
  serve
      ->add_option("--otlp-endpoint", cfg.otlp_endpoint,
                   "export request and store-call spans as OTLP/HTTP JSON to this collector URL, "
                   "e.g. http://127.0.0.1:4318/v1/traces (default: off)")
      ->envname("IMGD_OTLP_ENDPOINT");
  serve
      ->add_option("--trace-sample-ratio", cfg.trace_sample_ratio,
                   "share of new traces exported, 0..1 (a caller's traceparent flag is followed)")
      ->envname("IMGD_TRACE_SAMPLE_RATIO")
      ->check(CLI::Range(0.0, 1.0));
  serve->add_option("--gc-interval", cfg.gc_interval_s, "seconds between sweeps of leftovers")
      ->envname("IMGD_GC_INTERVAL")
      ->check(CLI::Range(1, 86400 * 7));
  serve
      ->add_option("--gc-grace", cfg.gc_grace_s,
                   "sweeps remove leftovers untouched for this many seconds")
      ->envname("IMGD_GC_GRACE")
      ->check(CLI::Range(0, 86400 * 365));

  serve
      ->add_option("--transform-threads", cfg.transform_threads,
                   "threads for transforms (0 = one per core)")
      ->envname("IMGD_TRANSFORM_THREADS")
      ->check(CLI::Range(0, 256));
  serve
      ->add_option("--transform-queue", cfg.transform_queue,
                   "transforms that may wait for a thread; more get 503")
      ->envname("IMGD_TRANSFORM_QUEUE")
      ->check(CLI::Range(0, 100000));
  serve
      ->add_option("--transform-memory", cfg.transform_memory,
                   "bytes of predicted decode memory admitted at once; more get 503")
      ->envname("IMGD_TRANSFORM_MEMORY");
  serve
      ->add_option("--transform-request-memory", cfg.transform_request_memory,
                   "bytes of predicted memory one transform may need (at most --transform-memory); "
                   "more get 400 transform-too-large")
      ->envname("IMGD_TRANSFORM_REQUEST_MEMORY");
  serve
      ->add_option("--transform-timeout", cfg.transform_timeout_s,
                   "seconds a transform may take, queueing included; then 503")
      ->envname("IMGD_TRANSFORM_TIMEOUT")
      ->check(CLI::Range(0.001, 3600.0));
  serve
      ->add_option("--image-cache-ttl", cfg.image_cache_ttl,
                   "seconds a ready image's record answers content reads from memory (0 = off); "
                   "deletes on other nodes show within this time")
      ->envname("IMGD_IMAGE_CACHE_TTL")
      ->check(CLI::Range(0.0, 3600.0));
  serve
      ->add_option("--variant-cache-bytes", cfg.variant_cache_bytes,
                   "in-memory variant cache size (0 = off)")
      ->envname("IMGD_VARIANT_CACHE_BYTES");
  serve
      ->add_option("--store-variants", cfg.store_variants,
                   "keep made variants in the blob store (true/false)")
      ->envname("IMGD_STORE_VARIANTS");
  serve
      ->add_option("--variant-max-per-image", cfg.variant_max_per_image,
                   "stored variants kept per image; the least recently used go first")
      ->envname("IMGD_VARIANT_MAX_PER_IMAGE")
      ->check(CLI::Range(1, 100000));
  serve
      ->add_option("--variant-max-bytes-per-image", cfg.variant_max_bytes_per_image,
                   "bytes of stored variants kept per image")
      ->envname("IMGD_VARIANT_MAX_BYTES_PER_IMAGE");
  serve
      ->add_option("--variant-store-bytes", cfg.variant_store_bytes,
                   "bytes all stored variants may use (0 = no bound); least recently used go")
      ->envname("IMGD_VARIANT_STORE_BYTES");
  serve
      ->add_option("--max-transform-dimension", cfg.max_transform_dimension,
                   "largest w or h of a variant")
      ->envname("IMGD_MAX_TRANSFORM_DIMENSION")
      ->check(CLI::Range(1, 65500));
  serve->add_option("--max-output-pixels", cfg.max_output_pixels, "largest w*h of a variant")
      ->envname("IMGD_MAX_OUTPUT_PIXELS");
  serve
      ->add_option("--allowed-sizes", cfg.allowed_sizes,
                   "variant sizes, e.g. 300x200,1200x,x800 (see --only-allowed-sizes)")
      ->envname("IMGD_ALLOWED_SIZES");
  serve
      ->add_option("--only-allowed-sizes", cfg.only_allowed_sizes,
                   "reject variant sizes not in --allowed-sizes (true/false)")
      ->envname("IMGD_ONLY_ALLOWED_SIZES");
  serve->add_option("--background", cfg.background, "fit=contain background colour, RRGGBB")
      ->envname("IMGD_BACKGROUND");

  auto* user = cli.add_subcommand("user", "manage users");
  user->require_subcommand(1);
  auto* user_create = user->add_subcommand("create", "create a user and print its API key");
  std::string user_name, user_email;
  user_create->add_option("--name", user_name)->required();
  user_create->add_option("--email", user_email)->required();
  AddStoreOptions(user_create, cfg);

  auto* gc = cli.add_subcommand(
      "gc",
      "remove leftover staged files and unreferenced blobs (the server must be stopped; "
      "a running server sweeps by itself)");
  int64_t grace_s = 3600;
  gc->add_option("--grace", grace_s, "only remove files untouched for this many seconds")
      ->envname("IMGD_GC_GRACE");
  AddStoreOptions(gc, cfg);

  auto* transform = cli.add_subcommand(
      "transform", "resize a local JPEG file with the server's pipeline (validation included)");
  TransformArgs targs;
  transform->add_option("file", targs.input, "input JPEG")->required();
  transform->add_option("-o,--output", targs.output, "output JPEG")->required();
  transform->add_option("--w", targs.spec.width, "width (0 = from height)")
      ->check(CLI::Range(0, 8192));
  transform->add_option("--h", targs.spec.height, "height (0 = from width)")
      ->check(CLI::Range(0, 8192));
  transform->add_option("--fit", targs.fit, "cover | contain | fill | inside");
  transform->add_option("--q", targs.spec.quality, "JPEG quality 1-100")->check(CLI::Range(1, 100));
  transform->add_flag("--enlarge", targs.spec.enlarge, "allow upscaling");
  transform->add_flag("--progressive", targs.spec.progressive, "progressive output");
  transform->add_option("--bg", targs.background, "contain background, RRGGBB");
  transform->add_option("--path", targs.path, "decoder: auto | fast | vips")
      ->check(CLI::IsMember({"auto", "fast", "vips"}));
  transform->add_option("--repeat", targs.repeat, "run N times and report the median time")
      ->check(CLI::Range(1, 100000));

  auto* upload = cli.add_subcommand(
      "upload", "send JPEG files to a running imgd (resumable above --threshold bytes)");
  cli::UploadOptions up;
  upload->add_option("files", up.files, "JPEG files")->required()->check(CLI::ExistingFile);
  upload->add_option("--server", up.server, "imgd base URL")->envname("IMGD_SERVER");
  upload->add_option("--key", up.key, "API key")->envname("IMGD_API_KEY")->required();
  upload->add_option("--name", up.name, "imageName (default: the file name)");
  upload->add_option("--description", up.description, "imageDescription");
  upload->add_option("--on-duplicate", up.on_duplicate, "return | reject | new")
      ->check(CLI::IsMember({"return", "reject", "new"}));
  upload->add_option("--threshold", up.threshold,
                     "files larger than this many bytes use the resumable flow");
  upload->add_option("--chunk", up.chunk, "bytes per resumable request")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  upload->add_option("--retries", up.retries, "attempts after a lost connection, per file")
      ->check(CLI::Range(0, 1000));

  auto* migrate = cli.add_subcommand(
      "migrate",
      "create or upgrade the metadata schema; with --from-*/--to-*, copy everything between "
      "stores");
  AddStoreOptions(migrate, cfg);
  cli::MigrateOptions mig;
  migrate->add_option("--from-meta", mig.from_meta, "source metadata store URL");
  migrate->add_option("--to-meta", mig.to_meta, "destination metadata store URL");
  migrate->add_option("--from-blob", mig.from_blob, "source blob store URL");
  migrate->add_option("--to-blob", mig.to_blob, "destination blob store URL");
  migrate->add_option("--max-images", mig.max_images, "stop after this many images");

  CLI11_PARSE(cli, argc, argv);
  if (const char* k = std::getenv("IMGD_ADMIN_KEY")) cfg.admin_key = k;

  try {
    if (upload->parsed()) return cli::RunUpload(up);
    if (migrate->parsed() && !mig.from_meta.empty()) {
      if (mig.to_meta.empty() || mig.from_blob.empty() || mig.to_blob.empty()) {
        std::cerr << "imgd migrate: give --from-meta, --to-meta, --from-blob and --to-blob"
                  << std::endl;
        return 2;
      }
      return cli::RunMigrate(mig);
    }
    VipsStartup(argv[0]);
    if (transform->parsed()) return TransformFile(targs, cfg);
    if (serve->parsed()) return Serve(cfg);
    cfg.Finalize(cfg.listen);
    App app(cfg);
    if (user_create->parsed()) {
      User admin;
      admin.is_admin = true;
      boost::asio::io_context ioc;
      std::pair<User, std::string> out;
      boost::asio::co_spawn(
          ioc,
          [&]() -> boost::asio::awaitable<void> {
            out = co_await app.users->CreateUser(admin, user_name, user_email);
          },
          [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
          });
      ioc.run();
      std::cout << "userId: " << out.first.id << "\napiKey: " << out.second << std::endl;
    } else if (gc->parsed()) {
      if (!LockDataDir(cfg.data_dir)) {
        std::cerr << "imgd gc: a server is running on " << cfg.data_dir
                  << "; it sweeps leftovers itself (--gc-interval). Stop it to run gc by hand."
                  << std::endl;
        return 1;
      }
      SweepCounts c = Sweep(app, grace_s);
      std::cout << "gc: removed " << c.staged << " staged files, " << c.orphans
                << " unreferenced blobs, " << c.uploads << " expired pending images/uploads and "
                << c.idempotency_keys << " idempotency records" << std::endl;
    } else if (migrate->parsed()) {
      std::cout << "schema is up to date" << std::endl;
    }
  } catch (const ApiError& e) {
    std::cerr << "imgd: " << e.detail() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "imgd: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

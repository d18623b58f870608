#include "cli/app.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "core/circuit_breaker.h"
#include "core/clock.h"
#include "core/ids.h"
#include "image/transform_spec.h"
#include "obs/log.h"

namespace imgd::cli {

int Cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

bool LockDataDir(const std::string& data_dir) {
  std::filesystem::create_directories(data_dir);
  int fd = ::open((std::filesystem::path(data_dir) / "imgd.lock").c_str(),
                  O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  return fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
}

App::App(Config& cfg)
    : blocking(static_cast<size_t>(cfg.blocking_threads)),
      cpu(static_cast<size_t>(cfg.cpu_threads > 0 ? cfg.cpu_threads : Cores())) {
  std::filesystem::create_directories(cfg.data_dir);
  meta = OpenMetaStore(cfg.meta_url);
  meta->Migrate();
  blobs = OpenBlobStore(cfg.blob_url);
  ImageServiceOptions opts;
  opts.image_cache_ttl =
      std::chrono::milliseconds(static_cast<int64_t>(cfg.image_cache_ttl * 1000));
  users = std::make_unique<UserService>(*meta, Pools{blocking, cpu});
  images = std::make_unique<ImageService>(*meta, *meta, *blobs, blob_locks, Pools{blocking, cpu},
                                          metrics, opts);
  EdgePurgeOptions eo;
  eo.edges = cfg.EdgePurgeUrls();
  eo.token = cfg.edge_purge_token;
  // Repeats: once every node has read the outbox (two polls), and once every node's cached
  // record of the image has expired.
  eo.repeats = {2 * eo.poll, opts.image_cache_ttl + std::chrono::seconds(1)};
  edge_purger = std::make_unique<EdgePurger>(*meta, metrics, eo);
  images->SetEdgePurger(edge_purger.get());
  NearDuplicateOptions no;
  no.threshold = cfg.near_duplicate_distance;
  near_duplicates = std::make_unique<NearDuplicates>(*meta, *meta, no);
  images->SetNearDuplicates(near_duplicates.get());
  PublishOptions po;
  po.max_upload_bytes = cfg.max_upload_bytes;
  po.jpeg.max_pixels = cfg.max_pixels;
  po.jpeg.max_decode_memory = cfg.max_decode_memory;
  po.jpeg.max_scans = cfg.max_jpeg_scans;
  po.jpeg.decode_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(cfg.validate_timeout_s * 1000));
  // Five times the shedding target: the network threads' and pools' own refusals keep the
  // wait under it in all but bursts, and those are what this cuts.
  po.max_validation_wait = std::chrono::milliseconds(cfg.shed_queue_delay_ms * 5);
  publish = std::make_unique<PublishStep>(*meta, *meta, *meta, *blobs, blob_locks,
                                          Pools{blocking, cpu}, metrics, po);
  publish->SetNearDuplicates(near_duplicates.get());
  direct_uploads = std::make_unique<DirectUploadService>(*publish);
  TransformServiceOptions to;
  to.pool.threads = cfg.transform_threads > 0 ? cfg.transform_threads : Cores();
  to.pool.max_queued = cfg.transform_queue;
  to.pool.memory_budget = cfg.transform_memory;
  to.timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.transform_timeout_s * 1000));
  to.cache_bytes = cfg.variant_cache_bytes;
  to.cache_file_dir = cfg.variant_file_dir == "memory" ? "" : cfg.variant_file_dir;
  to.store_variants = cfg.store_variants;
  to.variant_bounds.per_original_count = cfg.variant_max_per_image;
  to.variant_bounds.per_original_bytes = cfg.variant_max_bytes_per_image;
  to.variant_bounds.total_bytes = cfg.variant_store_bytes;
  to.limits.max_dimension = cfg.max_transform_dimension;
  to.limits.max_output_pixels = cfg.max_output_pixels;
  to.limits.max_avif_pixels = cfg.max_avif_pixels;
  to.limits.max_request_memory = cfg.transform_request_memory;
  to.limits.allowed_sizes = ParseSizeList(cfg.allowed_sizes);
  to.limits.only_allowed_sizes = cfg.only_allowed_sizes;
  // Config::Validate checked it.
  to.limits.default_background = ParseHexColour(cfg.background).value_or(0xFFFFFF);
  transforms = std::make_unique<TransformService>(*blobs, Pools{blocking, cpu}, metrics, to);
  images->OnBlobReleased([t = transforms.get()](const std::string& sha) { t->DropVariants(sha); });

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
  url_uploads = std::make_unique<UrlUploadService>(*publish, *fetcher, metrics);
  PresignedUploadOptions pso;
  pso.presign_ttl_ms = int64_t{cfg.presign_ttl_s} * 1000;
  presigned = std::make_unique<PresignedUploadService>(*publish, *meta, *blobs,
                                                       Pools{blocking, cpu}, metrics, *signer, pso);
  ResumableUploadOptions ro;
  ro.resumable_ttl_ms = int64_t{cfg.resumable_ttl_s} * 1000;
  ro.max_upload_bytes = cfg.max_upload_bytes;
  resumable = std::make_unique<ResumableUploadService>(*publish, *meta, *meta, *blobs,
                                                       Pools{blocking, cpu}, metrics, ro);
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

App::~App() {
  blocking.join();
  cpu.join();
}

SweepCounts Sweep(App& app, int64_t grace_s) {
  const int64_t now = NowMs();
  const int64_t cutoff = now - grace_s * 1000;
  SweepCounts c;
  std::tie(c.staged, c.orphans) = app.images->CollectGarbage(cutoff, cutoff);
  c.uploads = app.presigned->Sweep(now) + app.resumable->Sweep(now, cutoff);
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

}  // namespace imgd::cli

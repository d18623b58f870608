#include "service/transform_service.h"

#include <exception>

#include "core/errors.h"
#include "core/memory_source.h"
#include "image/jpeg_header.h"
#include "image/jpeg_info.h"
#include "image/transform.h"
#include "image/vips_decode.h"
#include "obs/log.h"

namespace imgd {

TransformService::TransformService(BlobStore& blobs, Pools pools, Metrics& metrics,
                                   TransformServiceOptions opts)
    : blobs_(blobs),
      pools_(pools),
      metrics_(metrics),
      opts_(opts),
      pool_(opts.pool, metrics),
      cache_(opts.cache_bytes),
      ledger_(opts.variant_bounds),
      memory_hits_(
          metrics.CounterCell("imgd_variant_cache_requests_total", {{"result", "memory_hit"}})) {
  // A request may not buy more than all transforms together may use.
  opts_.limits.max_request_memory =
      std::min(opts_.limits.max_request_memory, opts_.pool.memory_budget);
  metrics_.AddCallback("imgd_transform_queue_depth", [this] {
    return static_cast<double>(std::max(0, pool_.in_flight() - pool_.running()));
  });
  metrics_.AddCallback("imgd_transforms_running",
                       [this] { return static_cast<double>(pool_.running()); });
  metrics_.AddCallback("imgd_transform_memory_reserved_bytes",
                       [this] { return static_cast<double>(pool_.reserved_bytes()); });
  metrics_.AddCallback("imgd_variant_cache_bytes",
                       [this] { return static_cast<double>(cache_.bytes()); });
  metrics_.AddCallback("imgd_variant_cache_entries",
                       [this] { return static_cast<double>(cache_.size()); });
  metrics_.AddCallback("imgd_variant_cache_files",
                       [this] { return static_cast<double>(cache_.files()); });
  metrics_.AddCallback("imgd_variant_store_bytes",
                       [this] { return static_cast<double>(ledger_.total_bytes()); });
  metrics_.AddCallback("imgd_variant_store_entries",
                       [this] { return static_cast<double>(ledger_.size()); });
  metrics_.AddCallback("imgd_vips_memory_bytes",
                       [] { return static_cast<double>(VipsTrackedMemory()); });
  metrics_.AddCallback("imgd_vips_memory_highwater_bytes",
                       [] { return static_cast<double>(VipsTrackedMemoryHighwater()); });
}

std::string TransformService::VariantKey(const std::string& sha256, const TransformSpec& spec) {
  std::string key;
  AppendVariantKey(key, sha256, spec);
  return key;
}

std::string TransformService::VariantEtag(const std::string& sha256, const TransformSpec& spec) {
  std::string etag;
  AppendVariantEtag(etag, sha256, spec);
  return etag;
}

namespace {
// "-p<pipeline>-<canonical spec>": what follows the original's hash in keys and ETags.
void AppendVariantSuffix(std::string& out, const TransformSpec& spec) {
  static const std::string kPipeline = "-p" + std::to_string(kPipelineVersion) + "-";
  out += kPipeline;
  spec.AppendCanonical(out);
}
}  // namespace

void TransformService::AppendVariantKey(std::string& out, std::string_view sha256,
                                        const TransformSpec& spec) {
  out += kVariantsNamespace;
  out += sha256;
  AppendVariantSuffix(out, spec);
}

void TransformService::AppendVariantEtag(std::string& out, std::string_view sha256,
                                         const TransformSpec& spec) {
  out += '"';
  out += sha256;
  AppendVariantSuffix(out, spec);
  out += '"';
}

std::optional<Variant> TransformService::Cached(std::string_view sha256,
                                                const TransformSpec& spec) {
  thread_local std::string key;  // reused: a lookup allocates nothing once warm
  key.clear();
  AppendVariantKey(key, sha256, spec);
  auto hit = cache_.Get(key);
  if (hit) metrics_.Update({{memory_hits_, 1}}, nullptr, 0);
  return hit;
}

boost::asio::awaitable<Variant> TransformService::Get(const Image& image,
                                                      const TransformSpec& spec) {
  const std::string key = VariantKey(image.sha256, spec);
  if (auto hit = cache_.Get(key)) {
    metrics_.Update({{memory_hits_, 1}}, nullptr, 0);
    co_return *hit;
  }
  bool shared = false;
  Variant v = co_await flights_.Do(
      key, [this, &image, &spec, &key]() { return Make(image, spec, key); }, &shared);
  if (shared) metrics_.Inc("imgd_variant_cache_requests_total", {{"result", "coalesced"}});
  co_return v;
}

void TransformService::Cache(const std::string& key, const Variant& v) {
  cache_.Put(key, v);
  if (!v.bytes || !cache_.WantsFile(v.bytes->size())) return;
  boost::asio::post(pools_.blocking, [this, key, bytes = v.bytes] {
    cache_.AttachFile(key, bytes, MemoryFile::Create(*bytes, opts_.cache_file_dir));
  });
}

boost::asio::awaitable<Variant> TransformService::Make(const Image& image,
                                                       const TransformSpec& spec,
                                                       const std::string& key) {
  // The store tier, then the original; one hop to the blocking pool for both lookups.
  struct Lookup {
    std::shared_ptr<BlobReader> original;
    std::optional<Variant> stored;
    JpegInfo info;
    uint64_t predicted = 0;
  };
  Lookup found = co_await Offload(pools_.blocking, [&] {
    Lookup l;
    if (opts_.store_variants) {
      if (auto r = blobs_.Open(key)) {
        auto bytes = std::make_shared<std::string>(r->size(), '\0');
        bytes->resize(r->ReadAt(0, bytes->data(), bytes->size()));
        MemorySource ms(bytes);
        if (auto h = ReadJpegHeader(ms).header) {
          RecordStored(key, bytes->size());
          l.stored = Variant{std::move(bytes), h->width, h->height, nullptr};
          return l;
        }
      }
    }
    l.original = blobs_.Open(OriginalKey(image.sha256));
    if (!l.original) throw OriginalMissing(image.id);
    auto info = ReadJpegInfo(*l.original);
    if (!info) throw Unprocessable("the original of image " + image.id + " is not decodable");
    l.info = std::move(*info);
    l.predicted = CheckTransformCost(l.info, spec, opts_.limits);
    return l;
  });
  if (found.stored) {
    metrics_.Inc("imgd_variant_cache_requests_total", {{"result", "store_hit"}});
    Cache(key, *found.stored);
    co_return *found.stored;
  }
  metrics_.Inc("imgd_variant_cache_requests_total", {{"result", "miss"}});

  TransformOptions topts;
  topts.deadline = Deadline::In(opts_.timeout);
  const auto started = std::chrono::steady_clock::now();
  TransformResult r;
  try {
    r = co_await pool_.Run(found.predicted, topts.deadline,
                           [&] { return TransformJpeg(*found.original, found.info, spec, topts); });
  } catch (const Error& e) {
    metrics_.Inc("imgd_transforms_total", {{"path", "none"}, {"result", e.slug()}});
    throw;
  }
  metrics_.Inc("imgd_transforms_total", {{"path", r.path}, {"result", "ok"}});
  metrics_.Observe(
      "imgd_transform_duration_seconds", {{"path", r.path}},
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  Variant v{std::make_shared<const std::string>(std::move(r.bytes)), r.width, r.height, nullptr};
  Cache(key, v);
  bool preset = false;
  for (auto [w, h] : opts_.limits.allowed_sizes)
    preset = preset || (w == spec.width && h == spec.height);
  const bool store = opts_.store_variants && admission_.ShouldStore(key, preset);
  if (opts_.store_variants && !store) metrics_.Inc("imgd_variant_store_deferred_total");
  if (store) {
    // Variants can always be made again: storing one is off the request's path.
    boost::asio::post(pools_.blocking, [this, key, bytes = v.bytes] {
      try {
        blobs_.Put(key, *bytes);
        RecordStored(key, bytes->size());
      } catch (const std::exception& e) {
        metrics_.Inc("imgd_variant_store_errors_total");
        LogJson("warn", "storing a variant failed", {{"key", key}, {"error", e.what()}});
      }
    });
  }
  co_return v;
}

void TransformService::RecordStored(const std::string& key, uint64_t bytes) {
  for (const std::string& old : ledger_.Record(key, bytes)) {
    blobs_.Remove(old);
    metrics_.Inc("imgd_variant_store_evictions_total");
  }
}

void TransformService::RefreshVariantLedger() {
  if (!opts_.store_variants) return;
  std::vector<VariantLedger::Listed> listing;
  blobs_.ForEach(std::string(kVariantsNamespace),
                 [&](const std::string& k, uint64_t size, int64_t modified_ms) {
                   listing.push_back({k, size, modified_ms});
                 });
  for (const std::string& old : ledger_.Load(std::move(listing))) {
    blobs_.Remove(old);
    metrics_.Inc("imgd_variant_store_evictions_total");
  }
}

void TransformService::DropVariants(const std::string& sha256) {
  const std::string prefix = VariantKeyPrefix(sha256);
  ledger_.ForgetOriginal(sha256);
  cache_.EraseByPrefix(prefix);
  std::vector<std::string> keys;
  blobs_.ForEach(prefix, [&](const std::string& k, uint64_t, int64_t) { keys.push_back(k); });
  for (const auto& k : keys) blobs_.Remove(k);
}

}  // namespace imgd

#pragma once
// Variants: resized JPEGs of an original, immutable and addressed by the original's
// SHA-256, the pipeline version and the canonical spec. Served from the in-memory LRU,
// else from the BlobStore's variants/ namespace, else made by the transform pipeline on
// the bounded TransformPool, with concurrent requests for the same missing variant
// coalesced into one transform.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "blob/blob_store.h"
#include "core/offload.h"
#include "core/singleflight.h"
#include "core/types.h"
#include "image/transform_spec.h"
#include "obs/metrics.h"
#include "service/transform_pool.h"
#include "service/variant_admission.h"
#include "service/variant_cache.h"
#include "service/variant_ledger.h"

namespace imgd {

struct TransformServiceOptions {
  TransformPoolOptions pool;
  std::chrono::milliseconds timeout{10'000};  // queueing included
  uint64_t cache_bytes = 256ull << 20;
  // Where cached variants' files are made (core/memory_file.h); empty: memfds.
  std::string cache_file_dir;
  bool store_variants = true;    // keep made variants in the BlobStore (variants/)
  VariantBounds variant_bounds;  // how much of the store variants may use
  TransformLimits limits;
};

class TransformService {
 public:
  TransformService(BlobStore& blobs, Pools pools, Metrics& metrics, TransformServiceOptions opts);

  // "variants/<sha256>-p<pipeline>-<canonical spec>".
  static std::string VariantKey(const std::string& sha256, const TransformSpec& spec);
  // A strong ETag for the variant, known without making it.
  static std::string VariantEtag(const std::string& sha256, const TransformSpec& spec);
  // The same two, appended to out (no temporaries: the warm path runs them per request).
  static void AppendVariantKey(std::string& out, std::string_view sha256,
                               const TransformSpec& spec);
  static void AppendVariantEtag(std::string& out, std::string_view sha256,
                                const TransformSpec& spec);

  // The variant if this node holds it in memory; nullopt otherwise. Never waits: the warm
  // read answers from it on the network thread, and Get makes what it lacks.
  std::optional<Variant> Cached(std::string_view sha256, const TransformSpec& spec);

  // The variant of a ready image. Throws Error 503 (overloaded, time limit), 422
  // (original cannot be decoded), StoreError.
  boost::asio::awaitable<Variant> Get(const Image& image, const TransformSpec& spec);

  // Forgets every variant of an original whose bytes are gone (memory and store).
  // Blocking: call on the blocking pool.
  void DropVariants(const std::string& sha256);

  // Lists the stored variants (those other nodes stored included) and removes the least
  // recently used beyond the bounds. Blocking: at start and on every sweep.
  void RefreshVariantLedger();

  const TransformLimits& limits() const { return opts_.limits; }

 private:
  boost::asio::awaitable<Variant> Make(const Image& image, const TransformSpec& spec,
                                       const std::string& key);
  // Notes a stored variant's use and removes what that pushes past the bounds. Blocking.
  void RecordStored(const std::string& key, uint64_t bytes);
  // Caches v under key; a large one also gets its file copy for sendfile, made on the
  // blocking pool and attached when ready.
  void Cache(const std::string& key, const Variant& v);

  BlobStore& blobs_;
  Pools pools_;
  Metrics& metrics_;
  TransformServiceOptions opts_;
  TransformPool pool_;
  VariantCache cache_;
  VariantAdmission admission_;
  VariantLedger ledger_;
  SingleFlight<Variant> flights_;
  double* memory_hits_;  // imgd_variant_cache_requests_total{result="memory_hit"}
};

}  // namespace imgd

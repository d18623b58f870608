#pragma once
// One Config for the whole process, filled from flags, then IMGD_* environment variables,
// then defaults (flags win).
#include <cstdint>
#include <string>
#include <vector>

namespace imgd {

struct Config {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./data";
  std::string meta_url;         // default sqlite://<data>/imgd.db
  std::string blob_url;         // default file://<data>/blobs
  std::string public_base_url;  // default http://<listen>
  std::string admin_key;        // IMGD_ADMIN_KEY; generated on first start when empty
  uint64_t max_upload_bytes = 1ull << 30;
  uint64_t max_pixels = 100'000'000;
  uint64_t max_decode_memory = 1ull << 30;
  int max_jpeg_scans = 100;                 // scans per upload; more → 422
  double validate_timeout_s = 10;           // CPU time of one upload's decode check; then 422
  uint64_t max_inline_bytes = 32ull << 20;  // ?include=imageData limit
  // Browsers keep a copy an hour (they cannot be purged); shared caches a year (they are:
  // EdgePurger), serving it stale a minute while revalidating and a day while the origin fails.
  std::string cache_control =
      "public, max-age=3600, s-maxage=31536000, stale-while-revalidate=60, stale-if-error=86400";
  int io_threads = 0;        // 0 = one per core
  int blocking_threads = 8;  // disk and database waits
  int cpu_threads = 0;       // decoding; 0 = one per core
  int drain_timeout_s = 30;
  // Abuse limits; defaults a person never meets (0 = off).
  double rate_limit_ip = 1000;              // requests/s per client address (burst 2x)
  double rate_limit_key = 500;              // requests/s per API key (burst 2x)
  double rate_limit_upload_bytes = 50e6;    // upload bytes/s per API key (burst 60 s)
  int max_concurrent_uploads = 256;         // uploads receiving bytes at once
  int max_concurrent_uploads_per_key = 16;  // of them, one API key's
  int max_connections = 10000;
  int max_connections_per_ip = 256;
  int header_timeout_s = 10;     // whole header once its first byte came
  int shed_queue_delay_ms = 20;  // overload shedding's target; 0 = off
  bool warm_lane = true;         // cached variants and 304s answered before routing
  std::string tls_cert;          // PEM certificate chain; with tls_key: HTTPS only
  std::string tls_key;           // PEM private key
  // OTLP/HTTP JSON collector, e.g. http://127.0.0.1:4318/v1/traces (empty: no export).
  std::string otlp_endpoint;
  double trace_sample_ratio = 1.0;  // of new traces, when exporting
  int gc_interval_s = 3600;         // the server's own sweep of leftovers
  int gc_grace_s = 3600;            // only files untouched this long are swept
  // Upload flows.
  int presign_ttl_s = 900;          // pre-signed upload URL lifetime
  int resumable_ttl_s = 86400;      // resumable (tus) upload lifetime
  std::string upload_signing_keys;  // "id:secret,..." (first signs); default: kept in the db
  // Signed delivery: content URLs need ?expires&kid&sig (private images always do).
  bool signed_delivery = false;
  std::string delivery_signing_keys;  // "id:secret,..." (first signs); default: kept in the db
  int signed_url_ttl_s = 3600;        // lifetime of the signed URLs the API returns
  std::string fetch_allow;            // imageUrl allow-list: "127.0.0.1:8080,10.0.0.0/8"
  double fetch_connect_timeout_s = 5;
  double fetch_timeout_s = 60;  // whole fetch, body included
  // Transforms (variants).
  int transform_threads = 0;  // 0 = one per core
  int transform_queue = 64;   // waiting transforms beyond the running ones; more → 503
  uint64_t transform_memory = 1ull << 30;          // predicted memory of admitted transforms
  uint64_t transform_request_memory = 1ull << 30;  // of one transform; more → 400
  double transform_timeout_s = 10;                 // queueing included; → 503
  uint64_t variant_cache_bytes = 256ull << 20;     // in-memory LRU; 0 = off
  // Where large cached variants get their sendfile copies (unnamed O_TMPFILEs); default
  // <data>; "memory" = memfds (core/memory_file.h says what each costs).
  std::string variant_file_dir;
  bool store_variants = true;      // keep variants in the blob store
  int variant_max_per_image = 50;  // stored variants per original (LRU)
  uint64_t variant_max_bytes_per_image = 64ull << 20;
  uint64_t variant_store_bytes = 20ull << 30;  // all stored variants; 0 = no bound
  // Seconds a ready image's record serves content reads from memory (0 = off); a delete
  // on another node shows on this one within this time.
  double image_cache_ttl = 5;
  // Edges to purge (http://host:port,...) when an image is deleted or made private, and
  // the token they check (X-Purge-Token). Empty: no edges.
  std::string edge_purge_urls;
  // Hamming distance (of 64 bits) within which a user's images are near-duplicates.
  int near_duplicate_distance = 10;
  std::string edge_purge_token;
  int max_transform_dimension = 8192;  // w, h limit
  uint64_t max_output_pixels = 40'000'000;
  uint64_t max_avif_pixels = 4'000'000;
  std::string allowed_sizes;          // "300x200,1200x,x800"
  bool only_allowed_sizes = false;    // reject sizes outside allowed_sizes (400)
  std::string background = "ffffff";  // fit=contain letterbox colour

  std::string Scheme() const { return tls_cert.empty() ? "http" : "https"; }
  // Every check of settings that do not go together or cannot be parsed, in one place:
  // throws std::invalid_argument naming the flag. Called once, before anything starts.
  void Validate() const;
  // edge_purge_urls as a list.
  std::vector<std::string> EdgePurgeUrls() const;
  // Fills the derived defaults (meta_url, blob_url, public_base_url) after parsing.
  void Finalize(const std::string& bound_listen);
};

// "host:port" → parts; throws std::invalid_argument when malformed.
void SplitHostPort(const std::string& listen, std::string& host, unsigned short& port);

}  // namespace imgd

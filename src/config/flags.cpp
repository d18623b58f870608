#include "config/flags.h"

namespace imgd {

void AddStoreFlags(CLI::App* cmd, Config& cfg) {
  cmd->add_option("--data", cfg.data_dir, "data directory")->envname("IMGD_DATA_DIR");
  cmd->add_option("--meta", cfg.meta_url, "metadata store URL (sqlite://...)")
      ->envname("IMGD_META_URL");
  cmd->add_option("--blob", cfg.blob_url, "blob store URL (file://...)")->envname("IMGD_BLOB_URL");
}

void AddServeFlags(CLI::App* serve, Config& cfg) {
  serve->add_option("--listen", cfg.listen, "HOST:PORT to listen on (port 0 = any free port)")
      ->envname("IMGD_LISTEN");
  AddStoreFlags(serve, cfg);
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
      ->envname("IMGD_CACHE_CONTROL")
      ->check(
          [](const std::string& v) {
            // Written into every content answer's head as it is (the warm lane does not
            // scan it per request): a control character would split or end the head.
            for (unsigned char c : v) {
              if (c < 0x20 || c == 0x7f) return std::string("must not contain control characters");
            }
            return std::string();
          },
          "HEADER-VALUE");
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
  serve
      ->add_option("--shed-queue-delay-ms", cfg.shed_queue_delay_ms,
                   "overload shedding: while a network thread's queue delay stays over this, "
                   "a growing share of new requests gets a fast 503 + Retry-After; 0 = off")
      ->envname("IMGD_SHED_QUEUE_DELAY_MS")
      ->check(CLI::Range(0, 60000));
  serve
      ->add_option("--warm-lane", cfg.warm_lane,
                   "answer a cached variant or a 304 on the network thread before routing "
                   "(same answers, a fraction of the CPU); false sends every read the "
                   "general way")
      ->envname("IMGD_WARM_LANE");
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
      ->add_option("--near-duplicate-distance", cfg.near_duplicate_distance,
                   "perceptual-hash distance (of 64 bits) within which a user's images are "
                   "near-duplicates (nearDuplicates, onDuplicate=reject-similar)")
      ->envname("IMGD_NEAR_DUPLICATE_DISTANCE")
      ->check(CLI::Range(0, 15));
  serve
      ->add_option("--edge-purge-urls", cfg.edge_purge_urls,
                   "edges to purge when an image is deleted or made private: the purge URL of "
                   "each, [NAME=]http://host:port,... (shields first; every node names an edge "
                   "alike)")
      ->envname("IMGD_EDGE_PURGE_URLS");
  serve
      ->add_option("--edge-purge-token", cfg.edge_purge_token,
                   "token the edges check on a purge (X-Purge-Token); prefer the environment")
      ->envname("IMGD_EDGE_PURGE_TOKEN");
  serve
      ->add_option("--variant-cache-bytes", cfg.variant_cache_bytes,
                   "in-memory variant cache size (0 = off)")
      ->envname("IMGD_VARIANT_CACHE_BYTES");
  serve
      ->add_option("--variant-file-dir", cfg.variant_file_dir,
                   "directory for the cached variants' sendfile copies, unnamed files on a "
                   "disk filesystem (default <data>; 'memory' = memfds)")
      ->envname("IMGD_VARIANT_FILE_DIR");
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
      ->add_option("--max-avif-pixels", cfg.max_avif_pixels,
                   "largest w*h of an AVIF variant (AV1 encoding is slow per pixel)")
      ->envname("IMGD_MAX_AVIF_PIXELS");
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
}

}  // namespace imgd

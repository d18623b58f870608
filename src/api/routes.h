#pragma once
// HTTP handlers: parse the request, call a service, encode the answer. No rules here.
#include <atomic>
#include <memory>
#include <string>

#include "core/rate_limiter.h"
#include "http/router.h"
#include "obs/metrics.h"
#include "service/content_access.h"
#include "service/idempotency_service.h"
#include "service/image_service.h"
#include "service/transform_service.h"
#include "service/upload_service.h"
#include "service/user_service.h"

namespace imgd::api {

struct ApiDeps {
  UserService& users;
  ImageService& images;
  TransformService& transforms;
  UploadService& uploads;
  IdempotencyService& idempotency;
  MetaStore& meta;
  BlobStore& blobs;
  Metrics& metrics;
  Pools pools;
  std::string public_base_url;
  std::string cache_control;
  uint64_t max_inline_bytes;
  // Who may read content, and the (signed when needed) URLs the API hands out.
  const ContentAccess& access;
  // Abuse limits (null / 0 = off): requests per API key, upload bytes per API key, uploads
  // receiving bytes at once across all users.
  RateLimiter* key_requests = nullptr;
  RateLimiter* upload_bytes = nullptr;
  int max_concurrent_uploads = 0;
  std::shared_ptr<std::atomic<int>> uploads_in_flight = std::make_shared<std::atomic<int>>(0);
};

void RegisterRoutes(http::Router& router, ApiDeps deps);

// Internal to the api/ files.
using AuthFn = std::function<boost::asio::awaitable<User>(http::RequestContext&)>;
// POST /v1/images with a JSON body: the pre-signed flow, or imageUrl.
boost::asio::awaitable<http::Response> PostImageJson(ApiDeps& deps, const User& caller,
                                                     http::RequestContext& ctx, UploadMeta meta);
// Wraps a POST handler with Idempotency-Key handling.
http::Handler Idempotent(std::shared_ptr<ApiDeps> deps, AuthFn auth, http::Handler inner);
// Admits one upload's bytes: the global cap on concurrent uploads (503 + Retry-After beyond
// it) and, when the caller is known, their upload-byte budget charged with the declared
// Content-Length (429). Keep the slot until the bytes are in.
class UploadSlot {
 public:
  explicit UploadSlot(std::shared_ptr<std::atomic<int>> counter) : counter_(std::move(counter)) {}
  UploadSlot(UploadSlot&& o) noexcept : counter_(std::move(o.counter_)) {}
  UploadSlot& operator=(UploadSlot&&) = delete;
  ~UploadSlot() {
    if (counter_) --*counter_;
  }

 private:
  std::shared_ptr<std::atomic<int>> counter_;
};
UploadSlot AdmitUpload(ApiDeps& deps, const User* caller, const http::RequestContext& ctx);
// /v1/uploads: pre-signed PUT and tus.
void RegisterUploadRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth);

}  // namespace imgd::api

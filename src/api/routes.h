#pragma once
// HTTP handlers: parse the request, call a service, encode the answer. No rules here.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/rate_limiter.h"
#include "http/router.h"
#include "obs/metrics.h"
#include "service/content_access.h"
#include "service/delivery_service.h"
#include "service/direct_upload_service.h"
#include "service/idempotency_service.h"
#include "service/image_service.h"
#include "service/presigned_upload_service.h"
#include "service/resumable_upload_service.h"
#include "service/transform_service.h"
#include "service/url_upload_service.h"
#include "service/user_service.h"

namespace imgd::api {

struct ApiDeps {
  UserService& users;
  ImageService& images;
  TransformService& transforms;
  DirectUploadService& direct_uploads;
  UrlUploadService& url_uploads;
  PresignedUploadService& presigned;
  ResumableUploadService& resumable;
  IdempotencyService& idempotency;
  DeliveryService& delivery;
  Metrics& metrics;
  Pools pools;
  std::string public_base_url;
  std::string cache_control;
  uint64_t max_inline_bytes;
  // Who may read content, and the (signed when needed) URLs the API hands out.
  const ContentAccess& access;
  // Readiness (/readyz): each store's name and a call that throws while it is unreachable.
  std::vector<std::pair<const char*, std::function<void()>>> readiness_checks = {};
  // Abuse limits (null / 0 = off): requests per API key, upload bytes per API key, uploads
  // receiving bytes at once across all users.
  RateLimiter* key_requests = nullptr;
  RateLimiter* upload_bytes = nullptr;
  int max_concurrent_uploads = 0;
  int max_concurrent_uploads_per_key = 0;
  std::shared_ptr<std::atomic<int>> uploads_in_flight = std::make_shared<std::atomic<int>>(0);
  // Uploads receiving bytes at once, per user (entries removed at zero).
  struct PerUser {
    std::mutex mu;
    std::unordered_map<std::string, int> count;
  };
  std::shared_ptr<PerUser> uploads_per_user = std::make_shared<PerUser>();
};

void RegisterRoutes(http::Router& router, ApiDeps deps);

// The per-client-address request limit, for http::ServerOptions::admit: 429 beyond it.
// Health checks and scrapes (GET or HEAD of /healthz, /readyz, /metrics) come from a few
// monitoring addresses and are never limited; another method there is a request like any.
std::function<void(boost::beast::http::verb, std::string_view, const std::string&)>
ClientRequestLimit(RateLimiter& limiter, Metrics& metrics);

// Internal to the api/ files.
using AuthFn = std::function<boost::asio::awaitable<User>(http::RequestContext&)>;
// POST /v1/images with a JSON body: the pre-signed flow, or imageUrl.
class UploadSlot;
boost::asio::awaitable<http::Response> PostImageJson(ApiDeps& deps, const User& caller,
                                                     UploadSlot& slot, UploadMeta meta);
// Wraps a POST handler with Idempotency-Key handling.
http::Handler Idempotent(std::shared_ptr<ApiDeps> deps, AuthFn auth, http::Handler inner);
// Admits one upload's bytes: the global cap on concurrent uploads (503 + Retry-After
// beyond it) and, once the paying user is known (the caller's key, or the owner of a
// pre-signed upload), their cap on concurrent uploads (503) and upload-byte budget (429),
// charged with the declared length up front and, for bytes beyond it (a chunked body), as
// they arrive. Read the body through body(); keep the slot until the bytes are in.
class UploadSlot {
 public:
  UploadSlot(ApiDeps& deps, ChunkSource& body);
  ~UploadSlot();
  UploadSlot(const UploadSlot&) = delete;
  UploadSlot& operator=(const UploadSlot&) = delete;
  ChunkSource& body() { return metered_; }
  // The user the upload counts for, once (later calls do nothing): their concurrency
  // slot, and declared_bytes charged to their budget. Throws 503 / 429.
  void AdmitOwner(const std::string& user_id, uint64_t declared_bytes);
  // Charges bytes that arrive other than through body() (a fetched imageUrl) to the owner's
  // budget; nothing before AdmitOwner. Throws 429.
  void Pay(uint64_t bytes);

 private:
  // Bytes beyond what was paid up front (all of a chunked body's) are paid as they come.
  void OnBodyBytes(size_t n);
  void Release();  // the concurrency slots, once

  ApiDeps& deps_;
  std::string user_id_;  // empty until AdmitOwner
  bool counted_global_ = false, counted_user_ = false;
  uint64_t received_ = 0, paid_ = 0;  // of the body
  TappedSource metered_;
};
std::unique_ptr<UploadSlot> AdmitUpload(ApiDeps& deps, const User* caller,
                                        http::RequestContext& ctx);
// One file each: /healthz, /readyz, /metrics; /v1/users; /v1/images; content and transform.
void RegisterOpsRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps);
void RegisterUserRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth);
void RegisterImageRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth);
void RegisterContentRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth);
// /v1/uploads: pre-signed PUT and tus.
void RegisterUploadRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth);
// The web console (/, /assets/*) and /v1/openapi.json, compiled into the binary.
void RegisterConsoleRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps);

// The console page's Content-Security-Policy: its own scripts and styles only; images and
// API calls from imgd and the public base URL's origin.
std::string ConsoleContentSecurityPolicy(const std::string& public_base_url);
// Where the router and the OpenAPI document disagree: routes (method, pattern) served but
// not described, and operations described but not served. HEAD is served by every GET.
std::vector<std::string> RouteSpecDrift(
    const std::vector<std::pair<std::string, std::string>>& routes, std::string_view openapi_json);
// Throws std::logic_error naming every disagreement between router and the embedded
// document: imgd does not start with an undescribed API.
void CheckRoutesMatchSpec(const http::Router& router);

}  // namespace imgd::api

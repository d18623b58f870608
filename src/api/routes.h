#pragma once
// HTTP handlers: parse the request, call a service, encode the answer. No rules here.
#include <string>

#include "http/router.h"
#include "obs/metrics.h"
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
};

void RegisterRoutes(http::Router& router, ApiDeps deps);

// Internal to the api/ files.
using AuthFn = std::function<boost::asio::awaitable<User>(http::RequestContext&)>;
// POST /v1/images with a JSON body: the pre-signed flow, or imageUrl.
boost::asio::awaitable<http::Response> PostImageJson(ApiDeps& deps, const User& caller,
                                                     http::RequestContext& ctx, UploadMeta meta);
// Wraps a POST handler with Idempotency-Key handling.
http::Handler Idempotent(std::shared_ptr<ApiDeps> deps, AuthFn auth, http::Handler inner);
// /v1/uploads: pre-signed PUT and tus.
void RegisterUploadRoutes(http::Router& router, std::shared_ptr<ApiDeps> deps, AuthFn auth);

}  // namespace imgd::api

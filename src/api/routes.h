#pragma once
// HTTP handlers: parse the request, call a service, encode the answer. No rules here.
#include <string>

#include "http/router.h"
#include "obs/metrics.h"
#include "service/image_service.h"
#include "service/transform_service.h"
#include "service/user_service.h"

namespace imgd::api {

struct ApiDeps {
  UserService& users;
  ImageService& images;
  TransformService& transforms;
  MetaStore& meta;
  BlobStore& blobs;
  Metrics& metrics;
  Pools pools;
  std::string public_base_url;
  std::string cache_control;
  uint64_t max_inline_bytes;
};

void RegisterRoutes(http::Router& router, ApiDeps deps);

}  // namespace imgd::api

#pragma once
// The direct flow: the image's bytes are the request's body (raw or a multipart file part),
// published as a new image as they arrive.
#include <boost/asio/awaitable.hpp>

#include "core/chunk_source.h"
#include "core/types.h"
#include "service/publish_step.h"

namespace imgd {

class DirectUploadService {
 public:
  explicit DirectUploadService(PublishStep& publish) : publish_(publish) {}

  // Streams bytes into staging while hashing, validates them as a JPEG, publishes them under
  // their SHA-256 and records the image per meta.policy. 409 (kReject and a duplicate), 413,
  // 415, 422; nothing is left behind on failure. meta is read after the last byte, so
  // fields that arrive with the body (multipart) can still be filled in while streaming.
  boost::asio::awaitable<UploadResult> Upload(const User& owner, ChunkSource& bytes,
                                              const UploadMeta& meta);

 private:
  PublishStep& publish_;
};

}  // namespace imgd

#pragma once
// The rules for images: upload (stream → hash → validate → publish → record, with
// content-addressed dedup), read, list, rename and delete with reference counting.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "blob/blob_store.h"
#include "core/chunk_source.h"
#include "core/offload.h"
#include "core/types.h"
#include "image/jpeg_validate.h"
#include "meta/meta_store.h"
#include "obs/metrics.h"
#include "service/blob_locks.h"

namespace imgd {

struct ImageServiceOptions {
  uint64_t max_upload_bytes = 1ull << 30;
  JpegLimits jpeg;
};

struct UploadMeta {
  std::string name;
  std::string description;
  DuplicatePolicy policy = DuplicatePolicy::kReturnExisting;
};

struct UploadResult {
  Image image;
  bool duplicate = false;  // the bytes matched an image this user already had
};

struct Content {
  Image image;
  std::shared_ptr<BlobReader> reader;
};

class ImageService {
 public:
  ImageService(MetaStore& meta, BlobStore& blobs, Pools pools, Metrics& metrics,
               ImageServiceOptions opts);

  // Streams `bytes` into staging while hashing, validates them as a JPEG, publishes them
  // under their SHA-256 and records the image per meta.policy. Throws ApiError 409 (reject
  // policy and a duplicate), 413, 415, 422; nothing is left behind on failure.
  // meta is read after the last byte, so fields that arrive with the body (multipart)
  // can still be filled in while streaming.
  boost::asio::awaitable<UploadResult> Upload(const User& owner, ChunkSource& bytes,
                                              const UploadMeta& meta);

  // Owner or admin only (403 otherwise, 404 when missing).
  boost::asio::awaitable<Image> Get(const User& caller, const std::string& id);
  boost::asio::awaitable<std::vector<Image>> List(const User& caller, int limit,
                                                  const std::string& after_id);
  boost::asio::awaitable<Image> Update(const User& caller, const std::string& id,
                                       std::optional<std::string> name,
                                       std::optional<std::string> description);
  boost::asio::awaitable<void> Delete(const User& caller, const std::string& id);

  // A ready image's bytes, for anyone holding its id (404 missing, 409 pending).
  boost::asio::awaitable<Content> OpenContent(const std::string& id);
  // A ready image's record (404 missing, 409 pending): for anyone holding its id, or with
  // caller set, for its owner or the admin only (403 otherwise).
  boost::asio::awaitable<Image> GetReady(const std::string& id, const User* caller = nullptr);

  // Called (on the blocking pool) after the last reference to a blob went and its bytes
  // were removed, so derived data (variants) can go too. Set before serving.
  void OnBlobReleased(std::function<void(const std::string& sha256)> fn) {
    on_blob_released_ = std::move(fn);
  }
  // The whole original in memory (seed's imageData), refusing beyond max_bytes.
  boost::asio::awaitable<std::string> ReadAll(const Image& image, uint64_t max_bytes);

  // Blocking maintenance (imgd gc, startup): removes staged files older than
  // staging_older_than_ms, and stored originals no image references and variants of such
  // originals, last modified before orphan_older_than_ms. Returns {staged removed, orphans
  // removed}.
  std::pair<size_t, size_t> CollectGarbage(int64_t staging_older_than_ms,
                                           int64_t orphan_older_than_ms);

 private:
  boost::asio::awaitable<Image> GetOwned(const User& caller, const std::string& id);

  MetaStore& meta_;
  BlobStore& blobs_;
  Pools pools_;
  Metrics& metrics_;
  ImageServiceOptions opts_;
  BlobLocks locks_;
  std::function<void(const std::string&)> on_blob_released_;
};

}  // namespace imgd

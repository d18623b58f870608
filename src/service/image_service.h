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
#include "core/errors.h"
#include "core/hash.h"
#include "core/offload.h"
#include "core/types.h"
#include "image/jpeg_validate.h"
#include "meta/blob_record_store.h"
#include "meta/image_store.h"
#include "obs/metrics.h"
#include "service/blob_locks.h"
#include "service/ready_image_cache.h"

namespace imgd {

struct ImageServiceOptions {
  uint64_t max_upload_bytes = 1ull << 30;
  JpegLimits jpeg;
  // Ready records kept in memory for content reads (see ReadyImageCache); 0 = off.
  std::chrono::milliseconds image_cache_ttl{5000};
  size_t image_cache_entries = 200000;
};

struct UploadMeta {
  std::string name;
  std::string description;
  DuplicatePolicy policy = DuplicatePolicy::kReturnExisting;
  std::string visibility = kVisibilityPublic;
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
  ImageService(ImageStore& records, BlobRecordStore& blob_records, BlobStore& blobs, Pools pools,
               Metrics& metrics, ImageServiceOptions opts);

  // Streams `bytes` into staging while hashing, validates them as a JPEG, publishes them
  // under their SHA-256 and records the image per meta.policy. Throws Error 409 (reject
  // policy and a duplicate), 413, 415, 422; nothing is left behind on failure.
  // meta is read after the last byte, so fields that arrive with the body (multipart)
  // can still be filled in while streaming.
  boost::asio::awaitable<UploadResult> Upload(const User& owner, ChunkSource& bytes,
                                              const UploadMeta& meta);

  // The seed's pre-signed flow, step 1: records a pending image of `size` declared bytes
  // (400 when 0, 413 over the upload limit) that expires at expires_ms.
  boost::asio::awaitable<Image> CreatePending(const User& owner, const UploadMeta& meta,
                                              uint64_t size, int64_t expires_ms);
  // Step 2: the bytes of pending image image_id, exactly declared_size of them (422
  // otherwise), handled as Upload does; 409 when the image is not pending any more.
  boost::asio::awaitable<UploadResult> UploadPending(const std::string& image_id,
                                                     uint64_t declared_size, ChunkSource& bytes,
                                                     DuplicatePolicy policy);

  // --- the steps every upload flow shares (direct, pre-signed, resumable, by URL) ---
  // Writes bytes to the end of staged while hashing them; 413 once staged would exceed
  // limit. Returns how many bytes were appended. After an exception, hasher has seen
  // exactly the bytes staged.size() counts.
  boost::asio::awaitable<uint64_t> Append(ChunkSource& bytes, StagedBlob& staged, Sha256& hasher,
                                          uint64_t limit);
  // Records the image once its bytes are staged (finished) under SHA-256 sha: validates
  // them (415/422) unless the same bytes are already stored, publishes them under their
  // content address, then calls record (on the blocking pool, holding the blob's lock) to
  // write the metadata; record returns nullopt when its target is gone (→ 409). 409 on a
  // duplicate under kReject. The caller discards staged afterwards.
  // Records the image for blob, passing ensure_bytes to the MetaStore call.
  using Recorder = std::function<std::optional<ImageStore::CommitResult>(
      const BlobInfo&, const ImageStore::EnsureBytes& ensure_bytes)>;
  boost::asio::awaitable<UploadResult> Publish(StagedBlob& staged, const std::string& sha,
                                               DuplicatePolicy policy, const Recorder& record);
  // A new ready-image record for owner's bytes `blob`.
  static Image NewImage(const User& owner, const UploadMeta& meta, const BlobInfo& blob);

  // Owner or admin only (403 otherwise, 404 when missing).
  boost::asio::awaitable<Image> Get(const User& caller, const std::string& id);
  boost::asio::awaitable<std::vector<Image>> List(const User& caller, int limit,
                                                  const std::string& after_id);
  // Owner or admin only. A change of visibility holds on this node at once (its cached
  // record is dropped) and on others within the image cache TTL.
  boost::asio::awaitable<Image> Update(const User& caller, const std::string& id,
                                       ImageStore::ImageChanges changes);
  boost::asio::awaitable<void> Delete(const User& caller, const std::string& id);

  // A ready image's bytes, for anyone holding its id (404 missing, 409 pending).
  boost::asio::awaitable<Content> OpenContent(const std::string& id);
  // Asks the metadata store again, past the cache: 404 when the image is gone, 409 when
  // pending (after OriginalMissing, to tell a delete that just happened from lost bytes).
  boost::asio::awaitable<void> ConfirmReady(const std::string& id);
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
  // Runs body with a fresh staged blob, discarding it afterwards; times the upload.
  template <typename F>
  boost::asio::awaitable<UploadResult> WithStaging(F body);
  void CountReject(const Error& e);
  // Removes an unreferenced blob's bytes and derived data (blocking; see
  // BlobRecordStore::RemoveBlobIfUnreferenced). Returns whether it did.
  bool RemoveBlob(const std::string& sha);

  ImageStore& records_;
  BlobRecordStore& blob_records_;
  BlobStore& blobs_;
  Pools pools_;
  Metrics& metrics_;
  ImageServiceOptions opts_;
  BlobLocks locks_;
  ReadyImageCache ready_;
  std::function<void(const std::string&)> on_blob_released_;
};

}  // namespace imgd

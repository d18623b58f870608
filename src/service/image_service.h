#pragma once
// The rules for image records once they exist: read, list, change and delete (with
// reference counting and the removal of bytes nothing references), the reads content
// delivery makes, and garbage collection. Uploads are the flows' (see PublishStep).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blob/blob_store.h"
#include "core/errors.h"
#include "core/offload.h"
#include "core/types.h"
#include "meta/blob_record_store.h"
#include "meta/image_store.h"
#include "obs/metrics.h"
#include "service/blob_locks.h"
#include "service/edge_purger.h"
#include "service/near_duplicates.h"
#include "service/ready_image_cache.h"

namespace imgd {

struct ImageServiceOptions {
  // Ready records kept in memory for content reads (see ReadyImageCache); 0 = off.
  std::chrono::milliseconds image_cache_ttl{5000};
  size_t image_cache_entries = 200000;
};

struct Content {
  Image image;
  std::shared_ptr<BlobReader> reader;
};

class ImageService {
 public:
  // locks: shared with PublishStep (see BlobLocks).
  ImageService(ImageStore& records, BlobRecordStore& blob_records, BlobStore& blobs,
               BlobLocks& locks, Pools pools, Metrics& metrics, ImageServiceOptions opts);

  // Owner or admin only (403 otherwise, 404 when missing).
  boost::asio::awaitable<Image> Get(const User& caller, const std::string& id);
  // As Get, with the whole original in memory (the seed's imageData) when the image is
  // ready; 400 too-large-to-inline beyond max_bytes.
  struct WithData {
    Image image;
    std::optional<std::string> data;  // unset while pending
  };
  boost::asio::awaitable<WithData> GetWithData(const User& caller, const std::string& id,
                                               uint64_t max_bytes);
  boost::asio::awaitable<std::vector<Image>> List(const User& caller, int limit,
                                                  const std::string& after_id);
  // The caller's ready image of these bytes (by SHA-256 hex), if any: a client asks before
  // sending a file it may already have stored. Only the caller's own images are looked at.
  boost::asio::awaitable<std::optional<Image>> FindByContent(const User& caller,
                                                             const std::string& sha256);
  // Owner or admin only. A change of visibility holds on this node at once (its cached
  // record is dropped) and on others within the image cache TTL; a switch to private
  // purges the edges' public copies (recorded before the change, see EdgePurger).
  boost::asio::awaitable<Image> Update(const User& caller, const std::string& id,
                                       ImageStore::ImageChanges changes);
  // Owner or admin only; purges the edges' copies (recorded before the delete).
  boost::asio::awaitable<void> Delete(const User& caller, const std::string& id);

  // A ready image's bytes, for anyone holding its id (404 missing, 409 pending).
  boost::asio::awaitable<Content> OpenContent(const std::string& id);
  // Asks the metadata store again, past the cache: 404 when the image is gone, 409 when
  // pending (after OriginalMissing, to tell a delete that just happened from lost bytes).
  boost::asio::awaitable<void> ConfirmReady(const std::string& id);
  // A ready image's record (404 missing, 409 pending): for anyone holding its id, or with
  // caller set, for its owner or the admin only (403 otherwise).
  boost::asio::awaitable<Image> GetReady(const std::string& id, const User* caller = nullptr);
  // A ready image's record if this node holds it in memory (as GetReady would answer
  // without waiting); null otherwise. Never waits or throws.
  std::shared_ptr<const Image> CachedReady(std::string_view id) { return ready_.Get(id); }

  // Called (on the blocking pool) after the last reference to a blob went and its bytes
  // were removed, so derived data (variants) can go too. Set before serving.
  void OnBlobReleased(std::function<void(const std::string& sha256)> fn) {
    on_blob_released_ = std::move(fn);
  }
  // Edges to purge when an image is deleted or made private (none when null). Set before
  // serving; it outlives this service.
  // Its pending purges also drop this node's cached records of the images they name.
  void SetEdgePurger(EdgePurger* purger);
  // The similarity index deletes leave (none when null). Set before serving.
  void SetNearDuplicates(NearDuplicates* near) { near_ = near; }

  // Owner or admin: the owner's other images within max_distance (0..15) of image id's
  // perceptual hash, nearest first; 409 no-perceptual-hash when its content has none.
  boost::asio::awaitable<std::vector<SimilarImage>> Similar(const User& caller,
                                                            const std::string& id,
                                                            int max_distance);
  int near_duplicate_threshold() const { return near_ ? near_->threshold() : 10; }

  // Blocking maintenance (imgd gc, startup): removes staged files older than
  // staging_older_than_ms, and stored originals no image references and variants of such
  // originals, last modified before orphan_older_than_ms. Returns {staged removed, orphans
  // removed}.
  std::pair<size_t, size_t> CollectGarbage(int64_t staging_older_than_ms,
                                           int64_t orphan_older_than_ms);

 private:
  boost::asio::awaitable<Image> GetOwned(const User& caller, const std::string& id);
  // The whole original in memory, refusing beyond max_bytes.
  boost::asio::awaitable<std::string> ReadAll(const Image& image, uint64_t max_bytes);
  // Removes an unreferenced blob's bytes and derived data (blocking; see
  // BlobRecordStore::RemoveBlobIfUnreferenced). Returns whether it did.
  bool RemoveBlob(const std::string& sha);

  ImageStore& records_;
  BlobRecordStore& blob_records_;
  BlobStore& blobs_;
  BlobLocks& locks_;
  Pools pools_;
  Metrics& metrics_;
  ImageServiceOptions opts_;
  ReadyImageCache ready_;
  std::function<void(const std::string&)> on_blob_released_;
  EdgePurger* purger_ = nullptr;
  NearDuplicates* near_ = nullptr;
};

}  // namespace imgd

#pragma once
// The step every upload flow ends with (direct, pre-signed, resumable, by URL): bytes
// streamed into staging while hashed, validated as a JPEG unless the same bytes are already
// stored, published under their content address and recorded, in one store call, as what
// the flow asks for. Flows call it; it never calls back into them.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "blob/blob_store.h"
#include "core/chunk_source.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/offload.h"
#include "core/types.h"
#include "image/jpeg_validate.h"
#include "meta/blob_record_store.h"
#include "meta/image_store.h"
#include "meta/upload_store.h"
#include "obs/metrics.h"
#include "service/blob_locks.h"
#include "service/near_duplicates.h"

namespace imgd {

struct UploadMeta {
  std::string name;
  std::string description;
  DuplicatePolicy policy = DuplicatePolicy::kReturnExisting;
  std::string visibility = kVisibilityPublic;
};

struct UploadResult {
  Image image;
  bool duplicate = false;  // the bytes matched an image this user already had
  // The owner's other images within the near-duplicate distance of a new record (checked
  // only when near_checked: near-duplicates on, and the content has a hash).
  std::vector<SimilarImage> near_duplicates;
  bool near_checked = false;
};

struct PublishOptions {
  uint64_t max_upload_bytes = 1ull << 30;
  JpegLimits jpeg;
  // Under overload: a validation that waited longer than this in the CPU pool's queue is
  // not started; the upload is refused with 503 overloaded + Retry-After (0 = no limit).
  std::chrono::nanoseconds max_validation_wait{0};
};

// What published bytes become, each one store call (ImageStore / UploadStore):
struct NewImageRecord {  // a new ready image (CommitImage)
  User owner;
  UploadMeta meta;
};
struct PendingImageRecord {  // a pre-signed upload's pending image (CompletePendingImage)
  std::string image_id;
};
struct ResumableRecord {  // a resumable upload's image (CompleteUpload)
  std::string upload_id;
  User owner;
  UploadMeta meta;
};
using RecordAs = std::variant<NewImageRecord, PendingImageRecord, ResumableRecord>;

class PublishStep {
 public:
  // locks: the ones ImageService's deletes take (see BlobLocks), shared.
  PublishStep(ImageStore& image_records, UploadStore& upload_records, BlobRecordStore& blob_records,
              BlobStore& blobs, BlobLocks& locks, Pools pools, Metrics& metrics,
              PublishOptions opts);

  // Writes bytes to the end of staged while hashing them; 413 once staged would exceed
  // limit. Returns how many bytes were appended. After an exception, hasher has seen
  // exactly the bytes staged.size() counts.
  boost::asio::awaitable<uint64_t> Append(ChunkSource& bytes, StagedBlob& staged, Sha256& hasher,
                                          uint64_t limit);
  // Records the bytes staged (finished) under SHA-256 sha as `as`: validates them (415/422)
  // unless the same bytes are already stored and referenced, then, holding the blob's lock,
  // makes one store call whose transaction stores the bytes under their content address
  // when missing. 409 upload-not-pending when the pending image or upload is gone or
  // completed; 409 duplicate-image under kReject (and kRejectSimilar), 409 similar-image
  // under kRejectSimilar when the owner has an image within the near-duplicate distance;
  // 503 overloaded when the validation waited past max_validation_wait.
  // The caller discards staged afterwards. Runs on the blocking pool as a whole (one hop
  // from and back to the caller's thread).
  boost::asio::awaitable<UploadResult> Publish(StagedBlob& staged, const std::string& sha,
                                               DuplicatePolicy policy, const RecordAs& as);
  // A body streamed into fresh staging (at most max_upload_bytes, else 413) and published
  // as a new image of owner's; the staging is discarded afterwards. meta is read after the
  // last byte, so fields that arrive with the body (multipart) can still be filled in.
  boost::asio::awaitable<UploadResult> StoreNew(const User& owner, ChunkSource& bytes,
                                                const UploadMeta& meta);
  // Runs body with a fresh staged blob, discarding it afterwards; times the upload.
  boost::asio::awaitable<UploadResult> WithStaging(
      std::function<boost::asio::awaitable<UploadResult>(StagedBlob&)> body);
  // Counts a refused upload (by its slug) in the upload metrics.
  void CountReject(const Error& e);

  // A new ready-image record for owner's bytes `blob`.
  static Image NewImage(const User& owner, const UploadMeta& meta, const BlobInfo& blob);
  const PublishOptions& options() const { return opts_; }
  // Perceptual hashes and near-duplicates (none when null). Set before serving.
  void SetNearDuplicates(NearDuplicates* near) { near_ = near; }

 private:
  // Publish's work, on a blocking-pool thread: its store calls are made in place.
  boost::asio::awaitable<UploadResult> PublishOnPool(StagedBlob& staged, const std::string& sha,
                                                     DuplicatePolicy policy, const RecordAs& as);
  // On the CPU pool, before a validation: throws 503 overloaded when it waited (since
  // queued_at) past max_validation_wait. Starting it anyway would make an accepted upload
  // wait twice: in the queue, then in a validation stretched by the same contention.
  void RefuseIfWaitedTooLong(std::chrono::steady_clock::time_point queued_at);
  // Whose image `as` becomes (blocking: a pending image's is read from the store).
  std::string OwnerOf(const RecordAs& as);
  // The one store call that records blob as `as`.
  std::optional<ImageStore::CommitResult> Record(const RecordAs& as, DuplicatePolicy policy,
                                                 const BlobInfo& blob,
                                                 const ImageStore::EnsureBytes& ensure_bytes);

  ImageStore& image_records_;
  UploadStore& upload_records_;
  BlobRecordStore& blob_records_;
  BlobStore& blobs_;
  BlobLocks& locks_;
  Pools pools_;
  Metrics& metrics_;
  PublishOptions opts_;
  NearDuplicates* near_ = nullptr;
};

}  // namespace imgd

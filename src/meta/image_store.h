#pragma once
// Image records: direct and pending uploads recorded with the duplicate rule, reads, lists,
// changes and deletes, and each record's reference to its blob.
//
// What a store without multi-row transactions must still guarantee, and how: the duplicate
// rule needs one winner per (user, sha256), a conditional insert (lightweight transaction)
// on a row keyed by them; the blob reference and EnsureBytes need the blob row held while the
// bytes are checked, a lightweight transaction on that row with a "removing" state that
// RemoveBlobIfUnreferenced sets before it removes bytes, so a commit that sees it waits (or
// retries) and stores the bytes again. The image row itself is written only after both.
//
// Contract for every implementation (see meta_store.h): methods block (call them from a
// blocking pool), are thread-safe and safe across nodes sharing the database, throw
// StoreError (503) on store failures, and report "not found" as an empty optional.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace imgd {

class ImageStore {
 public:
  virtual ~ImageStore() = default;

  struct CommitResult {
    Image image;                // the stored image (new, or the existing one on a duplicate)
    bool duplicate = false;     // an image of this user with these bytes already existed
    bool created = false;       // a new image record was written
    int64_t blob_refcount = 0;  // the blob's references after this call (created only)
  };
  // Makes the bytes of a blob durable: called by CommitImage and CompletePendingImage inside
  // their transaction, once the blob row is locked and holds the new record's reference
  // (never for a duplicate that adds no reference). It must leave the bytes stored under
  // OriginalKey(sha256) (checking, storing them when missing) or throw, and then nothing is
  // recorded. Because RemoveBlobIfUnreferenced removes bytes only under the same row lock at
  // refcount 0, bytes it verified stay until the reference goes: a record never points at
  // missing bytes, whatever other nodes delete meanwhile. Called again if the transaction is
  // retried. Empty: the caller vouches for the bytes (imports, tests).
  using EnsureBytes = std::function<void()>;

  // Atomically records a ready image. If candidate.user_id already has a ready image with
  // the same sha256: kReturnExisting and kReject write nothing and return it
  // (duplicate=true); kNew adds a second record. Otherwise inserts candidate. Every
  // inserted record adds one reference to the blob row (created with the given
  // size/width/height on first use) and calls ensure_bytes. Concurrent calls end as some
  // sequential order of them would.
  virtual CommitResult CommitImage(const Image& candidate, DuplicatePolicy policy,
                                   const EnsureBytes& ensure_bytes) = 0;
  CommitResult CommitImage(const Image& candidate, DuplicatePolicy policy) {
    return CommitImage(candidate, policy, EnsureBytes());
  }

  // --- pending images (pre-signed and resumable uploads: a record before the bytes) ---
  // Records image with status "pending" and no bytes; it expires at image.expires_ms.
  virtual void CreatePendingImage(const Image& image) = 0;
  // Gives pending image `image_id` the bytes `blob`, with CommitImage's duplicate rule
  // against the owner's ready images: on a duplicate under kReturnExisting or kReject the
  // pending record is deleted and the existing image returned (duplicate=true,
  // created=false); otherwise the record becomes ready, references the blob and calls
  // ensure_bytes. nullopt when the record is not pending any more (completed, deleted, or
  // expired).
  virtual std::optional<CommitResult> CompletePendingImage(const std::string& image_id,
                                                           const BlobInfo& blob, int64_t now_ms,
                                                           DuplicatePolicy policy,
                                                           const EnsureBytes& ensure_bytes) = 0;
  std::optional<CommitResult> CompletePendingImage(const std::string& image_id,
                                                   const BlobInfo& blob, int64_t now_ms,
                                                   DuplicatePolicy policy) {
    return CompletePendingImage(image_id, blob, now_ms, policy, EnsureBytes());
  }
  // Deletes pending images that expired before now_ms; returns their ids.
  virtual std::vector<std::string> DeleteExpiredPending(int64_t now_ms) = 0;

  virtual std::optional<Image> GetImage(const std::string& image_id) = 0;
  // user_id's ready image of these bytes (the one the duplicate rule returns), if any. An
  // eventually consistent read: a commit in flight may not be seen.
  virtual std::optional<Image> FindImageByContent(const std::string& user_id,
                                                  const std::string& sha256) = 0;
  // The user's images, newest first, starting after `after_id` (exclusive; empty = newest).
  virtual std::vector<Image> ListImages(const std::string& user_id, int limit,
                                        const std::string& after_id) = 0;
  // The fields of an image a caller may change; unset ones stay as they are.
  struct ImageChanges {
    std::optional<std::string> name = std::nullopt;
    std::optional<std::string> description = std::nullopt;
    std::optional<std::string> visibility = std::nullopt;  // kVisibilityPublic or ...Private
  };
  // Applies changes; returns the updated image, nullopt when missing.
  virtual std::optional<Image> UpdateImage(const std::string& image_id, const ImageChanges& changes,
                                           const std::string& modified_by, int64_t modified_ms) = 0;
  struct DeleteResult {
    bool found = false;
    std::string sha256;          // the deleted image's blob (empty for pending images)
    bool blob_released = false;  // that was its last reference: the blob row stays at
                                 // refcount 0; the caller removes the bytes through
                                 // RemoveBlobIfUnreferenced
  };
  // Deletes the image and drops its blob reference in one transaction.
  virtual DeleteResult DeleteImage(const std::string& image_id) = 0;
};

}  // namespace imgd

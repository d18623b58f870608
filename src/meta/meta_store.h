#pragma once
// MetaStore: users, API keys, images and blob reference counts.
//
// Contract for every implementation:
// - All methods block; call them from a blocking pool, never from a network thread.
// - All methods are thread-safe and safe across processes/nodes sharing the database:
//   atomicity comes from database transactions and constraints, not in-process locks.
// - Store failures throw StoreError (answered with 503). "Not found" is
//   an empty optional, never an exception.
// - Access pattern: every hot query is by image id or by (user, newest first); nothing
//   needs a join or a cross-partition transaction on the hot path.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace imgd {

class CircuitBreaker;

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  // Creates or upgrades the schema; idempotent, safe when several processes start at once.
  virtual void Migrate() = 0;
  // Throws when the database is unreachable (readiness check).
  virtual void Ping() = 0;
  // The circuit breaker guarding a remote store (nullptr for embedded ones).
  virtual const CircuitBreaker* breaker() const { return nullptr; }

  // --- users and keys (keys are stored only as SHA-256 hashes) ---
  // Creates a user holding one API key.
  virtual void CreateUser(const User& user, const std::string& key_hash) = 0;
  virtual std::optional<User> FindUserByKeyHash(const std::string& key_hash) = 0;
  virtual std::optional<User> GetUser(const std::string& user_id) = 0;
  // Makes the admin user hold exactly this key (creating the admin when missing).
  virtual void SetAdminKey(const std::string& key_hash) = 0;
  virtual bool HasAdmin() = 0;

  // --- images and blobs ---
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

  // --- resumable uploads ---
  virtual void CreateUpload(const ResumableUpload& upload) = 0;
  virtual std::optional<ResumableUpload> GetUpload(const std::string& upload_id) = 0;
  // Records the image of resumable upload `upload_id` exactly as CommitImage does and marks
  // the upload completed by it (kept until it expires so clients can ask), in one
  // transaction: a crash can leave neither half alone. nullopt, writing nothing, when the
  // upload no longer exists or is already completed.
  virtual std::optional<CommitResult> CompleteUpload(const std::string& upload_id,
                                                     const Image& candidate, DuplicatePolicy policy,
                                                     const EnsureBytes& ensure_bytes) = 0;
  // Returns false when there was no such upload.
  virtual bool DeleteUpload(const std::string& upload_id) = 0;
  // The write lease of an upload, so one request on one node writes it at a time: true
  // when owner now holds it until until_ms (it was free, expired before now_ms, or owner's).
  virtual bool LeaseUpload(const std::string& upload_id, const std::string& owner, int64_t now_ms,
                           int64_t until_ms) = 0;
  // Gives the lease back (only if owner holds it).
  virtual void ReleaseUploadLease(const std::string& upload_id, const std::string& owner) = 0;
  // Deletes uploads that expired before now_ms; returns their ids.
  virtual std::vector<std::string> DeleteExpiredUploads(int64_t now_ms) = 0;

  // --- idempotency keys (per user) ---
  // Claims (user_id, key) for a request with this fingerprint: true when the caller now owns
  // it (no record, or one left running since before stale_before_ms by a crashed request,
  // or one finished before expired_before_ms). Atomic across nodes: of concurrent claims
  // exactly one wins.
  virtual bool ClaimIdempotencyKey(const std::string& user_id, const std::string& key,
                                   const std::string& fingerprint, int64_t now_ms,
                                   int64_t stale_before_ms, int64_t expired_before_ms) = 0;
  virtual std::optional<IdempotencyRecord> GetIdempotencyKey(const std::string& user_id,
                                                             const std::string& key) = 0;
  // Stores the claimed request's outcome (done = true).
  virtual void CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                                      const IdempotencyRecord& record) = 0;
  // Drops a claim whose request failed, so a retry runs afresh.
  virtual void ReleaseIdempotencyKey(const std::string& user_id, const std::string& key) = 0;
  // Deletes records created before before_ms; returns how many.
  virtual size_t DeleteExpiredIdempotencyKeys(int64_t before_ms) = 0;

  // A process-wide secret shared by every node on this database (e.g. the upload URL
  // signing key): stores candidate under name unless one exists, and returns the stored one.
  virtual std::string GetOrCreateSecret(const std::string& name, const std::string& candidate) = 0;

  // --- bulk copy between stores (imgd migrate); idempotent, so a copy can resume ---
  struct UserExport {
    User user;
    std::vector<std::string> key_hashes;
  };
  // Users (with their key hashes) in id order after after_id (exclusive), at most limit.
  virtual std::vector<UserExport> ExportUsers(const std::string& after_id, int limit) = 0;
  // Inserts the user and its keys unless they exist.
  virtual void ImportUser(const UserExport& user) = 0;
  // Ready images in id order after after_id, at most limit.
  virtual std::vector<Image> ExportImages(const std::string& after_id, int limit) = 0;
  // Inserts a ready image as it is unless its id exists, adding a reference to its blob row
  // (created from the image's size and dimensions); the user's first record of some bytes
  // takes the duplicate slot. Returns true when inserted. Its bytes must already be stored.
  virtual bool ImportImage(const Image& image) = 0;

  virtual std::optional<Image> GetImage(const std::string& image_id) = 0;
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

  virtual std::optional<BlobInfo> GetBlob(const std::string& sha256) = 0;
  // True when a blob row exists for sha256 (some image references it).
  virtual bool BlobReferenced(const std::string& sha256) = 0;
  // Hashes of blob rows with no reference (bytes still to remove), at most limit.
  virtual std::vector<std::string> UnreferencedBlobs(int limit) = 0;
  // Bytes stored with no row at all (a crash between storing them and recording an image)
  // get an unreferenced row, so that they too are removed only by RemoveBlobIfUnreferenced,
  // under the row lock a concurrent commit of the same bytes takes. A row that exists is
  // left as it is.
  virtual void TrackUnrecordedBlob(const std::string& sha256, uint64_t size) = 0;
  // Removes an unreferenced blob, safely against other nodes: in one transaction that
  // holds the blob row, and only if its count is still 0, calls remove_bytes and deletes
  // the row. A concurrent CommitImage of the same bytes waits for it, then creates the row
  // afresh (blob_refcount 1) and so knows it must store the bytes again. Returns whether
  // it removed. If remove_bytes throws, nothing changes.
  virtual bool RemoveBlobIfUnreferenced(const std::string& sha256,
                                        const std::function<void()>& remove_bytes) = 0;
};

// Opens the store named by a URL (sqlite:///path/imgd.db). Throws std::invalid_argument
// when the scheme is unknown.
std::unique_ptr<MetaStore> OpenMetaStore(const std::string& url);

}  // namespace imgd

#pragma once
// Resumable (tus) uploads: their records, the per-upload write lease, and completion.
//
// The lease is a conditional update of one row (a lightweight transaction where there are
// no transactions). CompleteUpload writes the image and marks the upload as one step: where
// that cannot be one transaction, the mark is written first as "completing <image id>" and
// the image under that id, so a retry finds and finishes it.
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
#include "meta/image_store.h"

namespace imgd {

class UploadStore {
 public:
  virtual ~UploadStore() = default;

  // --- resumable uploads ---
  virtual void CreateUpload(const ResumableUpload& upload) = 0;
  virtual std::optional<ResumableUpload> GetUpload(const std::string& upload_id) = 0;
  // Records the image of resumable upload `upload_id` exactly as CommitImage does and marks
  // the upload completed by it (kept until it expires so clients can ask), in one
  // transaction: a crash can leave neither half alone. nullopt, writing nothing, when the
  // upload no longer exists or is already completed.
  virtual std::optional<ImageStore::CommitResult> CompleteUpload(
      const std::string& upload_id, const Image& candidate, DuplicatePolicy policy,
      const ImageStore::EnsureBytes& ensure_bytes) = 0;
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
};

}  // namespace imgd

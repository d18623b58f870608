#pragma once
// One row per distinct content (SHA-256) with its size, dimensions and reference count:
// how the bytes in the BlobStore are shared between images and when they may go.
//
// RemoveBlobIfUnreferenced is the only way bytes are removed: under the row's lock, at
// count 0 (see ImageStore's EnsureBytes for the other half). A wide-column store meets it with
// a lightweight transaction that moves the row to a "removing" state first.
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

class BlobRecordStore {
 public:
  virtual ~BlobRecordStore() = default;

  virtual std::optional<BlobInfo> GetBlob(const std::string& sha256) = 0;
  // True when a blob row exists for sha256 (some image references it).
  virtual bool BlobReferenced(const std::string& sha256) = 0;
  // Hashes of blob rows with no reference (bytes still to remove), at most limit.
  virtual std::vector<std::string> UnreferencedBlobs(int limit) = 0;
  // Bytes stored with no row at all (a crash between storing them and recording an image)
  // get an unreferenced row, so that they too are removed only by RemoveBlobIfUnreferenced,
  // under the row lock a concurrent commit of the same bytes takes. A row that exists is
  // left as it is. A store whose references are not written in one transaction with the
  // image first drops those a commit recorded before in_flight_before_ms and never finished
  // (no commit is still running that long: the caller's grace).
  virtual void TrackUnrecordedBlob(const std::string& sha256, uint64_t size,
                                   int64_t in_flight_before_ms) = 0;
  // Removes an unreferenced blob, safely against other nodes: in one transaction that
  // holds the blob row, and only if its count is still 0, calls remove_bytes and deletes
  // the row. A concurrent CommitImage of the same bytes waits for it, then creates the row
  // afresh (blob_refcount 1) and so knows it must store the bytes again. Returns whether
  // it removed. If remove_bytes throws, nothing changes.
  virtual bool RemoveBlobIfUnreferenced(const std::string& sha256,
                                        const std::function<void()>& remove_bytes) = 0;
};

}  // namespace imgd

#pragma once
// BlobStore: where image bytes live. Keys are "<namespace>/<name>" with names made of
// [A-Za-z0-9._-] (originals/<sha256>, variants/<sha256>-<spec>, staging/<id>).
//
// Contract for every implementation:
// - All methods block; call them from a blocking pool, never from a network thread.
// - All methods are thread-safe; one StagedBlob or reader is used by one thread at a time.
// - Failures throw StoreError (answered with 503); a missing key is not
//   a failure where the method says so.
// - A key, once committed, holds complete bytes: readers never see partial objects.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/byte_source.h"

namespace imgd {

class CircuitBreaker;

// An adopted staged object (BlobStore::AdoptStaged) changed after it was adopted.
class StagedBlobChanged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bytes of a stored object, readable at any offset.
class BlobReader : public ByteSource {};

// Bytes being written, invisible under any key until BlobStore::Commit.
// Destroying an uncommitted StagedBlob discards its bytes.
class StagedBlob {
 public:
  virtual ~StagedBlob() = default;
  // Appends bytes. Throws on I/O failure (disk full...).
  virtual void Write(const void* data, size_t n) = 0;
  // Makes the written bytes durable; call once, after the last Write.
  virtual void Finish() = 0;
  virtual uint64_t size() const = 0;
  // Reads the staged bytes back (after Finish), e.g. to validate them before Commit.
  virtual std::unique_ptr<BlobReader> OpenReader() = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Starts a new staged object.
  virtual std::unique_ptr<StagedBlob> Stage() = 0;
  // Publishes finished staged bytes under key, atomically and durably (the bytes and the
  // name survive a crash once this returns). Replaces an existing object under key.
  virtual void Commit(StagedBlob& staged, const std::string& key) = 0;
  // Stores a small object in one call, atomically and durably.
  virtual void Put(const std::string& key, std::string_view bytes) = 0;
  // Opens key for reading; nullptr when it does not exist.
  virtual std::unique_ptr<BlobReader> Open(const std::string& key) = 0;
  // Size of the object under key, or nullopt when it does not exist.
  virtual std::optional<uint64_t> Stat(const std::string& key) = 0;
  // Removes key; removing a missing key is not an error.
  virtual void Remove(const std::string& key) = 0;
  // Calls fn(key, size, modified_ms) for every committed object whose key starts with prefix.
  virtual void ForEach(const std::string& prefix,
                       const std::function<void(const std::string&, uint64_t, int64_t)>& fn) = 0;
  // Deletes staged objects last written before older_than_ms (left by crashes).
  // Returns how many were removed.
  virtual size_t SweepStaging(int64_t older_than_ms) = 0;
  // Throws when the store is not usable (readiness check).
  virtual void Ping() = 0;
  // The circuit breaker guarding a remote store (nullptr for embedded ones).
  virtual const CircuitBreaker* breaker() const { return nullptr; }
  // An object a client uploaded straight to the store (through PresignPut) as a staged
  // blob: readable, committable under a key, removed when destroyed uncommitted. nullptr
  // when there is no such object. Stores without direct uploads return nullptr. The
  // object's version is fixed when adopted: Commit publishes exactly that version or
  // throws StagedBlobChanged (the client replaced it meanwhile), so the bytes that were
  // read (hashed, validated) are the bytes committed.
  virtual std::unique_ptr<StagedBlob> AdoptStaged(const std::string& key) {
    (void)key;
    return nullptr;
  }

  // --- resumable uploads: bytes that arrive over several requests ---
  // Opens the resumable staging object of upload_id (a UUID) for appending at its end:
  // created empty when missing and create is true, nullptr when missing otherwise. Unlike
  // Stage(), destroying the object keeps the bytes: Finish() makes what was written durable
  // (the offset acknowledged to the client), Commit() publishes them under a key and keeps
  // them here too (a failed record step after it loses nothing), RemoveResumable()
  // discards them. size() starts at the bytes already there.
  virtual std::unique_ptr<StagedBlob> OpenResumable(const std::string& upload_id, bool create) = 0;
  // Discards upload_id's resumable bytes; a missing one is not an error.
  virtual void RemoveResumable(const std::string& upload_id) = 0;
  // Calls fn(upload_id, modified_ms) for every resumable staging object (for sweeps).
  virtual void ForEachResumable(const std::function<void(const std::string&, int64_t)>& fn) = 0;

  // A URL a client can PUT exactly size bytes to (the length is part of the signature, so
  // the staging area never holds more than was allowed), for stores that accept uploads
  // directly (S3); nullopt when uploads must go through imgd.
  virtual std::optional<std::string> PresignPut(const std::string& key, uint64_t size,
                                                int64_t expires_ms) {
    (void)key, (void)size, (void)expires_ms;
    return std::nullopt;
  }
};

// Opens the store named by a URL (file:///path). Throws std::invalid_argument when unknown.
std::unique_ptr<BlobStore> OpenBlobStore(const std::string& url);

// True when key is well-formed ("<ns>/<name>", safe characters, no traversal).
bool IsValidBlobKey(std::string_view key);

}  // namespace imgd

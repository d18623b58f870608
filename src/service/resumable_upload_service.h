#pragma once
// Resumable uploads (tus 1.0 core + creation + termination): POST → upload id; PATCH chunks
// at the acknowledged offset, kept durable as they arrive; the last byte publishes the
// image through PublishStep (one store call completes the upload).
#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "blob/blob_store.h"
#include "core/chunk_source.h"
#include "core/hash.h"
#include "core/offload.h"
#include "meta/image_store.h"
#include "meta/upload_store.h"
#include "obs/metrics.h"
#include "service/publish_step.h"

namespace imgd {

struct ResumableUploadOptions {
  int64_t resumable_ttl_ms = 24 * 3600 * 1000;  // resumable upload lifetime
  std::chrono::milliseconds busy_wait{5000};    // wait for a concurrent PATCH
  int64_t lease_ms = 30'000;                    // an upload's write lease, renewed while bytes flow
  uint64_t max_upload_bytes = 1ull << 30;
};

class ResumableUploadService {
 public:
  ResumableUploadService(PublishStep& publish, ImageStore& image_records,
                         UploadStore& upload_records, BlobStore& blobs, Pools pools,
                         Metrics& metrics, ResumableUploadOptions opts);

  boost::asio::awaitable<ResumableUpload> CreateResumable(const User& owner, const UploadMeta& meta,
                                                          uint64_t length);
  struct Progress {
    ResumableUpload upload;
    uint64_t offset = 0;                // bytes received and durable
    std::optional<UploadResult> image;  // set once the last byte completed the image
  };
  // The caller's upload (404 missing, 403 another user's, 410 expired).
  boost::asio::awaitable<Progress> Status(const User& caller, const std::string& id);
  // Appends body at offset (409 unless offset is the acknowledged one; 413 past the
  // declared length, before any byte is written when body_length says so; 415 when the
  // first bytes are not a JPEG's; 423 while another request writes to this upload). When the
  // upload is whole, validates and records the image (415/422 discard the upload). Bytes
  // received before a dropped connection are kept. body_length: the request's Content-Length.
  boost::asio::awaitable<Progress> Patch(const User& caller, const std::string& id, uint64_t offset,
                                         std::optional<uint64_t> body_length, ChunkSource& body);
  // Termination: discards the upload and its bytes.
  boost::asio::awaitable<void> Terminate(const User& caller, const std::string& id);

  // Blocking maintenance: removes expired uploads with their bytes, and resumable bytes
  // without a record older than orphan_before_ms. Returns items removed.
  size_t Sweep(int64_t now_ms, int64_t orphan_before_ms);

  const ResumableUploadOptions& options() const { return opts_; }

 private:
  // The running SHA-256 of a resumable upload's bytes, so a resume continues it instead of
  // re-reading the bytes; lost on restart, then rebuilt from the stored bytes.
  struct HashState {
    std::unique_ptr<Sha256> hasher = std::make_unique<Sha256>();
    uint64_t offset = 0;  // bytes hasher has seen
    bool busy = false;    // a PATCH is writing
  };
  boost::asio::awaitable<ResumableUpload> GetOwnedUpload(const User& caller, const std::string& id);
  // Exclusive writer of upload id: this process's flag plus a lease in the metadata store
  // (other nodes); waits up to opts.busy_wait, then 423.
  boost::asio::awaitable<std::shared_ptr<HashState>> LockUpload(const std::string& id);
  boost::asio::awaitable<void> UnlockUpload(const std::string& id,
                                            const std::shared_ptr<HashState>& state, bool forget);
  boost::asio::awaitable<UploadResult> CompleteResumable(const ResumableUpload& upload,
                                                         StagedBlob& staged, HashState& state);
  void Discard(const std::string& id);

  PublishStep& publish_;
  ImageStore& image_records_;
  UploadStore& upload_records_;
  BlobStore& blobs_;
  Pools pools_;
  Metrics& metrics_;
  ResumableUploadOptions opts_;
  const std::string node_id_;  // this process, as a lease owner
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<HashState>> states_;
};

}  // namespace imgd

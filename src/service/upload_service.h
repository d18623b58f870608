#pragma once
// Upload flows that span more than one request, built on ImageService's shared steps
// (stream → hash → validate → publish → record):
// - pre-signed: POST metadata → pending image + signed URL; PUT bytes to the URL;
// - resumable (tus 1.0 core + creation + termination): POST → upload id; PATCH chunks at
//   the acknowledged offset; the last byte completes the image.
#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "blob/blob_store.h"
#include "core/chunk_source.h"
#include "core/hash.h"
#include "core/offload.h"
#include "core/url_signer.h"
#include "meta/image_store.h"
#include "meta/upload_store.h"
#include "net/url_fetcher.h"
#include "obs/metrics.h"
#include "service/image_service.h"

namespace imgd {

struct UploadServiceOptions {
  int64_t presign_ttl_ms = 15 * 60 * 1000;      // pre-signed URL lifetime
  int64_t resumable_ttl_ms = 24 * 3600 * 1000;  // resumable upload lifetime
  std::chrono::milliseconds busy_wait{5000};    // wait for a concurrent PATCH
  int64_t lease_ms = 30'000;                    // an upload's write lease, renewed while bytes flow
  uint64_t max_upload_bytes = 1ull << 30;
};

class UploadService {
 public:
  UploadService(ImageService& images, ImageStore& image_records, UploadStore& upload_records,
                BlobStore& blobs, Pools pools, Metrics& metrics, const UrlSigner& signer,
                UrlFetcher& fetcher, UploadServiceOptions opts);

  // --- pre-signed ---
  struct Presigned {
    Image image;  // pending
    std::string url;
    int64_t expires_ms = 0;
    bool direct = false;  // url is the blob store's: finish with CompleteDirect
  };
  // A pending image of `size` bytes and the URL its bytes go to: the blob store's own when
  // it accepts direct uploads (absolute), else imgd's "/v1/uploads/{token}" (a path the
  // API puts under the public base URL). 400/413 on a bad size.
  boost::asio::awaitable<Presigned> CreatePresigned(const User& owner, const UploadMeta& meta,
                                                    uint64_t size);
  // True when path_segment has the shape of a pre-signed token (not a resumable upload id).
  static bool IsPresignedToken(std::string_view path_segment);
  // Who pays for an upload's bytes: called with the user it counts for and its declared
  // size before any byte of the body is read; throws to refuse it (budgets, caps).
  using AdmitFn = std::function<void(const std::string& user_id, uint64_t size)>;

  // The bytes for a pre-signed URL. 403 when the token is malformed, tampered, expired or
  // used with another method; 409 when the image is not pending any more; 422 when
  // content_length or the body's size differs from the signed size; else as Upload.
  // admit is called with the image's owner (the key that made the URL) and the signed size.
  boost::asio::awaitable<UploadResult> CompletePresigned(std::string_view token,
                                                         std::string_view method,
                                                         std::optional<uint64_t> content_length,
                                                         ChunkSource& body, const AdmitFn& admit);

  // After a PUT straight to the blob store's pre-signed URL: validates the uploaded object
  // (415/422), moves it to its content address (or drops it as a duplicate) and makes the
  // image ready. 404/403 as Get; 409 when not pending or nothing was uploaded yet; 403 when
  // the URL expired; 422 when the object's size is not the declared one.
  boost::asio::awaitable<UploadResult> CompleteDirect(const User& caller, const std::string& id,
                                                      DuplicatePolicy policy);

  // --- by URL (seed's imageUrl) ---
  // Fetches url (see UrlFetcher: http/https, address policy, size and time limits) and
  // uploads what it returns as Upload does. 400 for a refused URL or address. on_bytes is
  // called with each fetched piece's size as it arrives, before it is stored; it may throw
  // to stop the fetch (the owner's byte budget).
  boost::asio::awaitable<UploadResult> UploadFromUrl(
      const User& owner, const std::string& url, const UploadMeta& meta,
      const std::function<void(uint64_t)>& on_bytes = {});

  // --- resumable ---
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
  // declared length; 415 when the first bytes are not a JPEG's; 423 while another request
  // writes to this upload). When the upload is whole, validates and records the image
  // (415/422 discard the upload). Bytes received before a dropped connection are kept.
  boost::asio::awaitable<Progress> Patch(const User& caller, const std::string& id, uint64_t offset,
                                         ChunkSource& body);
  // Termination: discards the upload and its bytes.
  boost::asio::awaitable<void> Terminate(const User& caller, const std::string& id);

  // Blocking maintenance: removes expired pending images, expired uploads with their bytes,
  // resumable bytes without a record older than orphan_before_ms. Returns items removed.
  size_t Sweep(int64_t now_ms, int64_t orphan_before_ms);

  const UploadServiceOptions& options() const { return opts_; }

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

  ImageService& images_;
  ImageStore& image_records_;
  UploadStore& upload_records_;
  BlobStore& blobs_;
  Pools pools_;
  Metrics& metrics_;
  const UrlSigner& signer_;
  UrlFetcher& fetcher_;
  UploadServiceOptions opts_;
  const std::string node_id_;  // this process, as a lease owner
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<HashState>> states_;
};

}  // namespace imgd

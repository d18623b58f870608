#pragma once
// The seed's pre-signed flow: POST metadata → a pending image and a URL for its bytes
// (imgd's own signed URL, or the blob store's when it takes uploads directly); the bytes
// PUT there are published by PublishStep as that pending image.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "blob/blob_store.h"
#include "core/chunk_source.h"
#include "core/offload.h"
#include "core/url_signer.h"
#include "meta/image_store.h"
#include "obs/metrics.h"
#include "service/publish_step.h"

namespace imgd {

struct PresignedUploadOptions {
  int64_t presign_ttl_ms = 15 * 60 * 1000;  // pre-signed URL lifetime
};

class PresignedUploadService {
 public:
  PresignedUploadService(PublishStep& publish, ImageStore& image_records, BlobStore& blobs,
                         Pools pools, Metrics& metrics, const UrlSigner& signer,
                         PresignedUploadOptions opts);

  struct Presigned {
    Image image;  // pending
    // Set instead when the caller declared the bytes' SHA-256 and already has an image of
    // them (under onDuplicate=return): nothing needs uploading.
    std::optional<Image> existing;
    std::string url;
    int64_t expires_ms = 0;
    bool direct = false;  // url is the blob store's: finish with CompleteDirect
  };
  // A pending image of `size` bytes and the URL its bytes go to: the blob store's own when
  // it accepts direct uploads (absolute), else imgd's "/v1/uploads/{token}" (a path the
  // API puts under the public base URL). 400/413 on a bad size. With sha256 (the bytes'
  // declared SHA-256, lower-case hex): the owner's image of those bytes when there is one
  // (`existing`; 409 duplicate-image under reject), else the URL, whose bytes must then hash
  // to it (422 sha256-mismatch). Only the owner's own images are looked at.
  boost::asio::awaitable<Presigned> CreatePresigned(const User& owner, const UploadMeta& meta,
                                                    uint64_t size, const std::string& sha256 = "");
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
  // the URL expired; 422 when the object's size is not the declared one, or (with
  // declared_sha256) its SHA-256 is not.
  boost::asio::awaitable<UploadResult> CompleteDirect(const User& caller, const std::string& id,
                                                      DuplicatePolicy policy,
                                                      const std::string& declared_sha256 = "");

  // Blocking maintenance: removes pending images that expired before now_ms; returns how
  // many.
  size_t Sweep(int64_t now_ms);

 private:
  // Records a pending image of `size` declared bytes (400 when 0, 413 over the upload
  // limit) that expires at expires_ms.
  boost::asio::awaitable<Image> CreatePending(const User& owner, const UploadMeta& meta,
                                              uint64_t size, int64_t expires_ms);
  // The bytes of pending image image_id, exactly declared_size of them (422 otherwise);
  // 409 when the image is not pending any more.
  boost::asio::awaitable<UploadResult> UploadPending(const std::string& image_id,
                                                     uint64_t declared_size, ChunkSource& bytes,
                                                     DuplicatePolicy policy,
                                                     const std::string& declared_sha256);
  // The caller's image (404 missing, 403 another user's unless admin).
  boost::asio::awaitable<Image> GetOwnedPending(const User& caller, const std::string& id);

  PublishStep& publish_;
  ImageStore& image_records_;
  BlobStore& blobs_;
  Pools pools_;
  Metrics& metrics_;
  const UrlSigner& signer_;
  PresignedUploadOptions opts_;
};

}  // namespace imgd

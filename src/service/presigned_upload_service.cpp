#include "service/presigned_upload_service.h"

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "service/upload_token.h"

namespace imgd {

PresignedUploadService::PresignedUploadService(PublishStep& publish, ImageStore& image_records,
                                               BlobStore& blobs, Pools pools, Metrics& metrics,
                                               const UrlSigner& signer, PresignedUploadOptions opts)
    : publish_(publish),
      image_records_(image_records),
      blobs_(blobs),
      pools_(pools),
      metrics_(metrics),
      signer_(signer),
      opts_(opts) {}

boost::asio::awaitable<PresignedUploadService::Presigned> PresignedUploadService::CreatePresigned(
    const User& owner, const UploadMeta& meta, uint64_t size, const std::string& sha256) {
  Presigned p;
  if (!sha256.empty() && meta.policy != DuplicatePolicy::kNew) {
    // Checked before any byte is sent: a phone on a slow link learns it has nothing to send.
    p.existing = co_await Offload(
        pools_.blocking, [&] { return image_records_.FindImageByContent(owner.id, sha256); });
    if (p.existing) {
      if (meta.policy != DuplicatePolicy::kReturnExisting) {
        throw Conflict("you already uploaded these bytes as image " + p.existing->id,
                       "duplicate-image", {{"existingImageId", p.existing->id}});
      }
      metrics_.Inc("imgd_presigned_uploads_total", {{"step", "already-stored"}});
      co_return p;
    }
  }
  // Whole seconds: the expiry travels in the URL.
  const int64_t expires_s = (NowMs() + opts_.presign_ttl_ms + 999) / 1000;
  p.expires_ms = expires_s * 1000;
  p.image = co_await CreatePending(owner, meta, size, p.expires_ms);
  std::optional<std::string> direct = co_await Offload(pools_.blocking, [&] {
    return blobs_.PresignPut("staging/" + p.image.id, size, p.expires_ms);
  });
  if (direct) {
    p.url = *direct;
    p.direct = true;
  } else {
    p.url = "/v1/uploads/" +
            MakeUploadToken(signer_, "PUT", p.image.id, size, expires_s, meta.policy, sha256);
  }
  metrics_.Inc("imgd_presigned_uploads_total", {{"step", "created"}});
  co_return p;
}

bool PresignedUploadService::IsPresignedToken(std::string_view segment) {
  return LooksLikeUploadToken(segment);
}

boost::asio::awaitable<UploadResult> PresignedUploadService::CompletePresigned(
    std::string_view text, std::string_view method, std::optional<uint64_t> content_length,
    ChunkSource& body, const AdmitFn& admit) {
  std::optional<UploadToken> token = VerifyUploadToken(signer_, method, text);
  if (!token) {
    metrics_.Inc("imgd_presigned_uploads_total", {{"step", "refused"}});
    throw Forbidden("the upload URL is not valid (altered, or not for " + std::string(method) +
                    ")");
  }
  if (NowMs() >= token->expires_s * 1000) {
    metrics_.Inc("imgd_presigned_uploads_total", {{"step", "expired"}});
    throw Forbidden("the upload URL expired at " + FormatIsoMs(token->expires_s * 1000));
  }
  std::optional<Image> image =
      co_await Offload(pools_.blocking, [&] { return image_records_.GetImage(token->image_id); });
  if (!image) throw NotFound("image " + token->image_id + " no longer exists");
  if (image->status != kStatusPending) {
    throw Conflict("this upload URL was already used: image " + image->id + " is ready",
                   "upload-completed");
  }
  if (admit) admit(image->user_id, token->size);
  if (content_length && *content_length != token->size) {
    throw Unprocessable("the upload URL was made for exactly " + std::to_string(token->size) +
                            " bytes; Content-Length is " + std::to_string(*content_length),
                        "size-mismatch");
  }
  UploadResult r =
      co_await UploadPending(token->image_id, token->size, body, token->policy, token->sha256);
  metrics_.Inc("imgd_presigned_uploads_total", {{"step", "completed"}});
  co_return r;
}

boost::asio::awaitable<UploadResult> PresignedUploadService::CompleteDirect(
    const User& caller, const std::string& id, DuplicatePolicy policy,
    const std::string& declared_sha256) {
  Image image = co_await GetOwnedPending(caller, id);
  if (image.status != kStatusPending) {
    throw Conflict("image " + id + " is not waiting for its bytes", "upload-completed");
  }
  if (image.expires_ms < NowMs()) {
    throw Forbidden("the upload URL of image " + id + " expired at " +
                    FormatIsoMs(image.expires_ms));
  }
  std::unique_ptr<StagedBlob> staged =
      co_await Offload(pools_.blocking, [&] { return blobs_.AdoptStaged("staging/" + id); });
  if (!staged) {
    throw Conflict("nothing was uploaded to the pre-signed URL of image " + id + " yet",
                   "upload-missing");
  }
  std::exception_ptr failure;
  UploadResult result;
  try {
    if (staged->size() != image.size) {
      throw Unprocessable("the upload URL was made for exactly " + std::to_string(image.size) +
                              " bytes; " + std::to_string(staged->size()) + " were uploaded",
                          "size-mismatch");
    }
    // One streamed pass for the hash; validation reads what it needs.
    const std::string sha = co_await Offload(pools_.blocking, [&] {
      Sha256 hasher;
      HashPrefix(*staged->OpenReader(), staged->size(), hasher);
      return hasher.FinalHex();
    });
    if (!declared_sha256.empty() && sha != declared_sha256) {
      throw Unprocessable(
          "the uploaded object's SHA-256 is " + sha + ", not the declared " + declared_sha256,
          "sha256-mismatch");
    }
    // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
    const RecordAs as = PendingImageRecord{id};
    result = co_await publish_.Publish(*staged, sha, policy, as);
    metrics_.Inc("imgd_presigned_uploads_total", {{"step", "completed"}});
  } catch (const StagedBlobChanged&) {
    // What was hashed and validated is not what is there now: nothing was recorded.
    metrics_.Inc("imgd_presigned_uploads_total", {{"step", "refused"}});
    failure = std::make_exception_ptr(
        Conflict("the object uploaded to the pre-signed URL of image " + id +
                     " was replaced while it was being completed; complete again",
                 "upload-changed"));
  } catch (...) {
    failure = std::current_exception();
  }
  // Dropping the staged object deletes the upload (committed copies stay).
  co_await Offload(pools_.blocking, [&] { staged.reset(); });
  if (failure) std::rethrow_exception(failure);
  co_return result;
}

boost::asio::awaitable<Image> PresignedUploadService::CreatePending(const User& owner,
                                                                    const UploadMeta& meta,
                                                                    uint64_t size,
                                                                    int64_t expires_ms) {
  const uint64_t limit = publish_.options().max_upload_bytes;
  if (size == 0) throw BadParameter("size", "size must be a positive number of bytes");
  if (size > limit) {
    throw PayloadTooLarge("size exceeds the upload limit of " + std::to_string(limit) + " bytes");
  }
  BlobInfo declared;
  declared.size = size;
  Image im = PublishStep::NewImage(owner, meta, declared);
  im.status = kStatusPending;
  im.expires_ms = expires_ms;
  co_await Offload(pools_.blocking, [&] { image_records_.CreatePendingImage(im); });
  co_return im;
}

boost::asio::awaitable<UploadResult> PresignedUploadService::UploadPending(
    const std::string& image_id, uint64_t declared_size, ChunkSource& bytes, DuplicatePolicy policy,
    const std::string& declared_sha256) {
  co_return co_await publish_.WithStaging(
      [&](StagedBlob& staged) -> boost::asio::awaitable<UploadResult> {
        Sha256 hasher;
        bool over = false;
        try {
          co_await publish_.Append(bytes, staged, hasher, declared_size);
        } catch (const Error& e) {
          if (e.code() != ErrorCode::kTooLarge) throw;
          over = true;
        }
        if (over || staged.size() != declared_size) {
          Error mismatch = Unprocessable(
              "the upload URL was made for exactly " + std::to_string(declared_size) +
                  " bytes; the body has " + (over ? "more" : std::to_string(staged.size())),
              "size-mismatch");
          publish_.CountReject(mismatch);
          throw mismatch;
        }
        co_await Offload(pools_.blocking, [&] { staged.Finish(); });
        const std::string sha = hasher.FinalHex();
        if (!declared_sha256.empty() && sha != declared_sha256) {
          Error mismatch = Unprocessable(
              "the bytes' SHA-256 is " + sha + ", not the declared " + declared_sha256,
              "sha256-mismatch");
          publish_.CountReject(mismatch);
          throw mismatch;
        }
        const RecordAs as = PendingImageRecord{image_id};
        co_return co_await publish_.Publish(staged, sha, policy, as);
      });
}

boost::asio::awaitable<Image> PresignedUploadService::GetOwnedPending(const User& caller,
                                                                      const std::string& id) {
  std::optional<Image> image;
  if (IsUuid(id)) {
    image = co_await Offload(pools_.blocking, [&] { return image_records_.GetImage(id); });
  }
  if (!image) throw NotFound("no image " + id);
  if (image->user_id != caller.id && !caller.is_admin) {
    throw Forbidden("image " + id + " belongs to another user");
  }
  co_return std::move(*image);
}

size_t PresignedUploadService::Sweep(int64_t now_ms) {
  return image_records_.DeleteExpiredPending(now_ms).size();
}

}  // namespace imgd

#include "service/image_service.h"

#include <chrono>
#include <exception>

#include "core/clock.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/ids.h"

namespace imgd {
namespace {

// The image, when it exists and has its bytes (404 missing, 409 pending).
Image RequireReady(std::optional<Image> image, const std::string& id) {
  if (!image) throw NotFound("no image " + id);
  if (image->status != kStatusReady) {
    throw Conflict("image " + id + " has no content yet", "image-pending");
  }
  return std::move(*image);
}

}  // namespace

ImageService::ImageService(MetaStore& meta, BlobStore& blobs, Pools pools, Metrics& metrics,
                           ImageServiceOptions opts)
    : meta_(meta), blobs_(blobs), pools_(pools), metrics_(metrics), opts_(opts) {}

boost::asio::awaitable<UploadResult> ImageService::Upload(const User& owner, ChunkSource& bytes,
                                                          const UploadMeta& meta) {
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<StagedBlob> staged =
      co_await Offload(pools_.blocking, [this] { return blobs_.Stage(); });
  std::exception_ptr failure;
  UploadResult result;
  try {
    // 1. Stream to staging while hashing; the body is never whole in memory.
    Sha256 hasher;
    uint64_t total = 0;
    for (;;) {
      std::span<const char> chunk = co_await bytes.Next();
      if (chunk.empty()) break;
      total += chunk.size();
      if (total > opts_.max_upload_bytes) {
        throw PayloadTooLarge("upload exceeds the limit of " +
                              std::to_string(opts_.max_upload_bytes) + " bytes");
      }
      co_await Offload(pools_.blocking, [&] {
        hasher.Update(chunk.data(), chunk.size());
        staged->Write(chunk.data(), chunk.size());
      });
    }
    co_await Offload(pools_.blocking, [&] { staged->Finish(); });
    const std::string sha = hasher.FinalHex();

    // 2. Bytes already stored and referenced were validated when first uploaded.
    std::optional<BlobInfo> known =
        co_await Offload(pools_.blocking, [&] { return meta_.GetBlob(sha); });
    int width = 0, height = 0;
    if (known && known->refcount > 0) {
      width = known->width;
      height = known->height;
    } else {
      JpegHeader h = co_await Offload(pools_.cpu, [&] {
        auto reader = staged->OpenReader();
        return ValidateJpeg(*reader, opts_.jpeg);
      });
      width = h.width;
      height = h.height;
    }

    // 3. Publish the bytes (durable), then record the image: no record ever points at
    // bytes that are not on disk.
    Image cand;
    cand.id = NewUuidV7();
    cand.user_id = owner.id;
    cand.name = meta.name;
    cand.description = meta.description;
    cand.created_by = owner.id;
    cand.modified_by = owner.id;
    cand.created_ms = cand.modified_ms = NowMs();
    cand.size = total;
    cand.width = width;
    cand.height = height;
    cand.sha256 = sha;
    MetaStore::CommitResult cr = co_await Offload(pools_.blocking, [&] {
      std::lock_guard lock(locks_.For(sha));
      if (!meta_.BlobReferenced(sha)) blobs_.Commit(*staged, OriginalKey(sha));
      return meta_.CommitImage(cand, meta.policy);
    });
    if (cr.duplicate && meta.policy == DuplicatePolicy::kReject) {
      metrics_.Inc("imgd_upload_rejects_total", {{"reason", "duplicate"}});
      throw Conflict("you already uploaded these bytes as image " + cr.image.id, "duplicate-image",
                     {{"existingImageId", cr.image.id}});
    }
    result.image = std::move(cr.image);
    // onDuplicate=new makes a record of its own (201); only a returned existing image is
    // reported as a duplicate.
    result.duplicate = cr.duplicate && !cr.created;
    if (cr.duplicate) metrics_.Inc("imgd_upload_duplicates_total");
    metrics_.Inc("imgd_uploads_total", {{"result", cr.created ? "created" : "duplicate"}});
    metrics_.Inc("imgd_upload_bytes_total", {}, static_cast<double>(total));
  } catch (const ApiError& e) {
    if (e.slug() != "duplicate-image") {
      metrics_.Inc("imgd_upload_rejects_total", {{"reason", e.slug()}});
      metrics_.Inc("imgd_uploads_total", {{"result", "rejected"}});
    }
    failure = std::current_exception();
  } catch (...) {
    failure = std::current_exception();
  }
  // Discarding staged bytes unlinks a file: keep it off the network thread.
  co_await Offload(pools_.blocking, [&] { staged.reset(); });
  if (failure) std::rethrow_exception(failure);
  metrics_.Observe(
      "imgd_upload_duration_seconds", {},
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  co_return result;
}

boost::asio::awaitable<Image> ImageService::GetOwned(const User& caller, const std::string& id) {
  if (!IsUuid(id)) throw NotFound("no image " + id);
  auto image = co_await Offload(pools_.blocking, [&] { return meta_.GetImage(id); });
  if (!image) throw NotFound("no image " + id);
  if (image->user_id != caller.id && !caller.is_admin) {
    throw Forbidden("image " + id + " belongs to another user");
  }
  co_return *image;
}

boost::asio::awaitable<Image> ImageService::Get(const User& caller, const std::string& id) {
  co_return co_await GetOwned(caller, id);
}

boost::asio::awaitable<std::vector<Image>> ImageService::List(const User& caller, int limit,
                                                              const std::string& after_id) {
  co_return co_await Offload(pools_.blocking,
                             [&] { return meta_.ListImages(caller.id, limit, after_id); });
}

boost::asio::awaitable<Image> ImageService::Update(const User& caller, const std::string& id,
                                                   std::optional<std::string> name,
                                                   std::optional<std::string> description) {
  co_await GetOwned(caller, id);
  auto updated = co_await Offload(pools_.blocking, [&] {
    return meta_.UpdateImage(id, name, description, caller.id, NowMs());
  });
  if (!updated) throw NotFound("no image " + id);
  co_return *updated;
}

boost::asio::awaitable<void> ImageService::Delete(const User& caller, const std::string& id) {
  Image image = co_await GetOwned(caller, id);
  bool released = co_await Offload(pools_.blocking, [&] {
    // The lock spans "drop the last reference" and "remove the bytes" (see BlobLocks).
    std::unique_lock<std::mutex> lock;
    if (!image.sha256.empty()) lock = std::unique_lock(locks_.For(image.sha256));
    auto r = meta_.DeleteImage(id);
    if (!r.found) throw NotFound("no image " + id);
    if (r.blob_released) {
      blobs_.Remove(OriginalKey(r.sha256));
      if (on_blob_released_) on_blob_released_(r.sha256);
    }
    return r.blob_released;
  });
  if (released) metrics_.Inc("imgd_blobs_deleted_total");
}

boost::asio::awaitable<Content> ImageService::OpenContent(const std::string& id) {
  if (!IsUuid(id)) throw NotFound("no image " + id);
  // One hop to the blocking pool for both the lookup and the open.
  co_return co_await Offload(pools_.blocking, [&] {
    Content c;
    c.image = RequireReady(meta_.GetImage(id), id);
    c.reader = blobs_.Open(OriginalKey(c.image.sha256));
    // Only possible if the bytes were lost outside imgd's control.
    if (!c.reader) throw Unavailable("the bytes of image " + id + " are missing", 5);
    return c;
  });
}

boost::asio::awaitable<Image> ImageService::GetReady(const std::string& id, const User* caller) {
  std::optional<Image> image;
  if (caller) {
    image = co_await GetOwned(*caller, id);
  } else {
    if (!IsUuid(id)) throw NotFound("no image " + id);
    image = co_await Offload(pools_.blocking, [&] { return meta_.GetImage(id); });
  }
  co_return RequireReady(std::move(image), id);
}

boost::asio::awaitable<std::string> ImageService::ReadAll(const Image& image, uint64_t max_bytes) {
  if (image.size > max_bytes) {
    throw BadRequest("image is " + std::to_string(image.size) +
                         " bytes, too large to inline (limit " + std::to_string(max_bytes) +
                         "); download it from imageUrl",
                     "too-large-to-inline");
  }
  Content c = co_await OpenContent(image.id);
  co_return co_await Offload(pools_.blocking, [&] {
    std::string out(c.reader->size(), '\0');
    out.resize(c.reader->ReadAt(0, out.data(), out.size()));
    return out;
  });
}

std::pair<size_t, size_t> ImageService::CollectGarbage(int64_t staging_older_than_ms,
                                                       int64_t orphan_older_than_ms) {
  size_t staged = blobs_.SweepStaging(staging_older_than_ms);
  size_t orphans = 0;
  for (const auto& sha : meta_.TakeUnreferencedBlobs()) {
    std::lock_guard lock(locks_.For(sha));
    blobs_.Remove(OriginalKey(sha));
    if (on_blob_released_) on_blob_released_(sha);
    ++orphans;
  }
  std::vector<std::string> candidates;
  blobs_.ForEach("originals/", [&](const std::string& key, uint64_t, int64_t mtime) {
    if (mtime < orphan_older_than_ms) candidates.push_back(key);
  });
  for (const auto& key : candidates) {
    std::string sha = key.substr(key.find('/') + 1);
    std::lock_guard lock(locks_.For(sha));
    if (meta_.BlobReferenced(sha)) continue;
    blobs_.Remove(key);
    ++orphans;
  }
  // Variants whose original is gone (a crash between removing an original and its
  // variants, or a variant stored while its original was being deleted).
  std::vector<std::string> variants;
  blobs_.ForEach(std::string(kVariantsNamespace),
                 [&](const std::string& key, uint64_t, int64_t mtime) {
                   if (mtime < orphan_older_than_ms) variants.push_back(key);
                 });
  for (const auto& key : variants) {
    std::string sha = VariantOriginal(key);
    if (sha.empty()) continue;
    std::lock_guard lock(locks_.For(sha));
    if (meta_.BlobReferenced(sha)) continue;
    blobs_.Remove(key);
    ++orphans;
  }
  return {staged, orphans};
}

}  // namespace imgd

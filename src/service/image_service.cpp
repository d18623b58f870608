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

ImageService::ImageService(ImageStore& records, BlobRecordStore& blob_records, BlobStore& blobs,
                           Pools pools, Metrics& metrics, ImageServiceOptions opts)
    : records_(records),
      blob_records_(blob_records),
      blobs_(blobs),
      pools_(pools),
      metrics_(metrics),
      opts_(opts),
      ready_(opts.image_cache_ttl, opts.image_cache_entries) {}

boost::asio::awaitable<uint64_t> ImageService::Append(ChunkSource& bytes, StagedBlob& staged,
                                                      Sha256& hasher, uint64_t limit) {
  uint64_t appended = 0;
  const uint64_t start = staged.size();
  for (;;) {
    std::span<const char> chunk = co_await bytes.Next();
    if (chunk.empty()) break;
    if (start + appended + chunk.size() > limit) {
      throw PayloadTooLarge("upload exceeds the limit of " + std::to_string(limit) + " bytes");
    }
    appended += chunk.size();
    // Write before hashing: after a failed write, staged.size() still counts exactly the
    // hashed bytes (resumable uploads rely on it).
    co_await Offload(pools_.blocking, [&] {
      staged.Write(chunk.data(), chunk.size());
      hasher.Update(chunk.data(), chunk.size());
    });
  }
  co_return appended;
}

boost::asio::awaitable<UploadResult> ImageService::Publish(StagedBlob& staged,
                                                           const std::string& sha,
                                                           DuplicatePolicy policy,
                                                           const Recorder& record) {
  try {
    // Bytes already stored and referenced were validated when first uploaded.
    std::optional<BlobInfo> known =
        co_await Offload(pools_.blocking, [&] { return blob_records_.GetBlob(sha); });
    BlobInfo blob;
    blob.sha256 = sha;
    blob.size = staged.size();
    if (known && known->refcount > 0) {
      blob.width = known->width;
      blob.height = known->height;
    } else {
      JpegHeader h = co_await Offload(pools_.cpu, [&] {
        auto reader = staged.OpenReader();
        return ValidateJpeg(*reader, opts_.jpeg);
      });
      blob.width = h.width;
      blob.height = h.height;
    }
    // The record's transaction verifies the bytes under the blob row's lock (storing them
    // when missing), the lock every remover takes: no record ever points at missing bytes,
    // whichever node deletes the same bytes meanwhile.
    std::optional<ImageStore::CommitResult> cr = co_await Offload(pools_.blocking, [&] {
      std::lock_guard lock(locks_.For(sha));
      const std::string key = OriginalKey(sha);
      bool committed = false;
      auto ensure_bytes = [&] {
        if (blobs_.Stat(key)) return;
        // A retried transaction let go of the lock, and a remover took the bytes we stored.
        if (committed) throw StoreError("the bytes were removed while being recorded; retry");
        blobs_.Commit(staged, key);
        committed = true;
      };
      return record(blob, ensure_bytes);
    });
    if (!cr) {
      throw Conflict("the upload was already completed, cancelled or has expired",
                     "upload-not-pending");
    }
    if (cr->duplicate && policy == DuplicatePolicy::kReject) {
      metrics_.Inc("imgd_upload_rejects_total", {{"reason", "duplicate"}});
      throw Conflict("you already uploaded these bytes as image " + cr->image.id, "duplicate-image",
                     {{"existingImageId", cr->image.id}});
    }
    UploadResult result;
    result.image = std::move(cr->image);
    // onDuplicate=new makes a record of its own (201); only a returned existing image is
    // reported as a duplicate.
    result.duplicate = cr->duplicate && !cr->created;
    if (cr->duplicate) metrics_.Inc("imgd_upload_duplicates_total");
    metrics_.Inc("imgd_uploads_total", {{"result", cr->created ? "created" : "duplicate"}});
    metrics_.Inc("imgd_upload_bytes_total", {}, static_cast<double>(blob.size));
    co_return result;
  } catch (const Error& e) {
    CountReject(e);
    throw;
  }
}

void ImageService::CountReject(const Error& e) {
  if (e.slug() == "duplicate-image") return;
  metrics_.Inc("imgd_upload_rejects_total", {{"reason", e.slug()}});
  metrics_.Inc("imgd_uploads_total", {{"result", "rejected"}});
}

template <typename F>
boost::asio::awaitable<UploadResult> ImageService::WithStaging(F body) {
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<StagedBlob> staged =
      co_await Offload(pools_.blocking, [this] { return blobs_.Stage(); });
  std::exception_ptr failure;
  UploadResult result;
  try {
    result = co_await body(*staged);
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

boost::asio::awaitable<UploadResult> ImageService::Upload(const User& owner, ChunkSource& bytes,
                                                          const UploadMeta& meta) {
  co_return co_await WithStaging([&](StagedBlob& staged) -> boost::asio::awaitable<UploadResult> {
    Sha256 hasher;
    try {
      co_await Append(bytes, staged, hasher, opts_.max_upload_bytes);
    } catch (const Error& e) {
      CountReject(e);
      throw;
    }
    co_await Offload(pools_.blocking, [&] { staged.Finish(); });
    co_return co_await Publish(
        staged, hasher.FinalHex(), meta.policy,
        [&](const BlobInfo& blob,
            const ImageStore::EnsureBytes& ensure) -> std::optional<ImageStore::CommitResult> {
          return records_.CommitImage(NewImage(owner, meta, blob), meta.policy, ensure);
        });
  });
}

boost::asio::awaitable<UploadResult> ImageService::UploadPending(const std::string& image_id,
                                                                 uint64_t declared_size,
                                                                 ChunkSource& bytes,
                                                                 DuplicatePolicy policy) {
  co_return co_await WithStaging([&](StagedBlob& staged) -> boost::asio::awaitable<UploadResult> {
    Sha256 hasher;
    bool over = false;
    try {
      co_await Append(bytes, staged, hasher, declared_size);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kTooLarge) throw;
      over = true;
    }
    if (over || staged.size() != declared_size) {
      Error mismatch = Unprocessable("the upload URL was made for exactly " +
                                         std::to_string(declared_size) + " bytes; the body has " +
                                         (over ? "more" : std::to_string(staged.size())),
                                     "size-mismatch");
      CountReject(mismatch);
      throw mismatch;
    }
    co_await Offload(pools_.blocking, [&] { staged.Finish(); });
    co_return co_await Publish(staged, hasher.FinalHex(), policy,
                               [&](const BlobInfo& blob, const ImageStore::EnsureBytes& ensure) {
                                 return records_.CompletePendingImage(image_id, blob, NowMs(),
                                                                      policy, ensure);
                               });
  });
}

Image ImageService::NewImage(const User& owner, const UploadMeta& meta, const BlobInfo& blob) {
  Image im;
  im.id = NewUuidV7();
  im.user_id = owner.id;
  im.name = meta.name;
  im.description = meta.description;
  im.visibility = meta.visibility;
  im.created_by = owner.id;
  im.modified_by = owner.id;
  im.created_ms = im.modified_ms = NowMs();
  im.size = blob.size;
  im.width = blob.width;
  im.height = blob.height;
  im.sha256 = blob.sha256;
  return im;
}

boost::asio::awaitable<Image> ImageService::CreatePending(const User& owner, const UploadMeta& meta,
                                                          uint64_t size, int64_t expires_ms) {
  if (size == 0) throw BadParameter("size", "size must be a positive number of bytes");
  if (size > opts_.max_upload_bytes) {
    throw PayloadTooLarge("size exceeds the upload limit of " +
                          std::to_string(opts_.max_upload_bytes) + " bytes");
  }
  BlobInfo declared;
  declared.size = size;
  Image im = NewImage(owner, meta, declared);
  im.status = kStatusPending;
  im.expires_ms = expires_ms;
  co_await Offload(pools_.blocking, [&] { records_.CreatePendingImage(im); });
  co_return im;
}

boost::asio::awaitable<Image> ImageService::GetOwned(const User& caller, const std::string& id) {
  if (!IsUuid(id)) throw NotFound("no image " + id);
  auto image = co_await Offload(pools_.blocking, [&] { return records_.GetImage(id); });
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
                             [&] { return records_.ListImages(caller.id, limit, after_id); });
}

boost::asio::awaitable<Image> ImageService::Update(const User& caller, const std::string& id,
                                                   ImageStore::ImageChanges changes) {
  co_await GetOwned(caller, id);
  auto updated = co_await Offload(
      pools_.blocking, [&] { return records_.UpdateImage(id, changes, caller.id, NowMs()); });
  ready_.Erase(id);
  if (!updated) throw NotFound("no image " + id);
  co_return *updated;
}

boost::asio::awaitable<void> ImageService::Delete(const User& caller, const std::string& id) {
  Image image = co_await GetOwned(caller, id);
  bool released = co_await Offload(pools_.blocking, [&] {
    // The lock spans "drop the last reference" and "remove the bytes" (see BlobLocks);
    // across nodes, RemoveBlobIfUnreferenced holds the blob row while it removes them.
    std::unique_lock<std::mutex> lock;
    if (!image.sha256.empty()) lock = std::unique_lock(locks_.For(image.sha256));
    auto r = records_.DeleteImage(id);
    if (!r.found) throw NotFound("no image " + id);
    return r.blob_released && RemoveBlob(r.sha256);
  });
  ready_.Erase(id);
  if (released) metrics_.Inc("imgd_blobs_deleted_total");
}

boost::asio::awaitable<Content> ImageService::OpenContent(const std::string& id) {
  if (!IsUuid(id)) throw NotFound("no image " + id);
  // One hop to the blocking pool for both the lookup and the open.
  std::optional<Image> cached = ready_.Get(id);
  co_return co_await Offload(pools_.blocking, [&] {
    Content c;
    if (cached) {
      c.image = std::move(*cached);
      c.reader = blobs_.Open(OriginalKey(c.image.sha256));
      if (c.reader) return c;
      // Deleted on another node since it was cached: ask the store again.
      ready_.Erase(id);
    }
    c.image = RequireReady(records_.GetImage(id), id);
    ready_.Put(c.image);
    c.reader = blobs_.Open(OriginalKey(c.image.sha256));
    if (!c.reader) {
      // Deleted between the two lookups (404), or lost outside imgd's control (503).
      ready_.Erase(id);
      RequireReady(records_.GetImage(id), id);
      throw OriginalMissing(id);
    }
    return c;
  });
}

boost::asio::awaitable<void> ImageService::ConfirmReady(const std::string& id) {
  ready_.Erase(id);
  auto image = co_await Offload(pools_.blocking, [&] { return records_.GetImage(id); });
  RequireReady(std::move(image), id);
}

boost::asio::awaitable<Image> ImageService::GetReady(const std::string& id, const User* caller) {
  std::optional<Image> image;
  if (caller) {
    image = co_await GetOwned(*caller, id);
  } else {
    if (!IsUuid(id)) throw NotFound("no image " + id);
    // Content reads: a warm one is answered without leaving the network thread.
    if (auto hit = ready_.Get(id)) co_return std::move(*hit);
    image = co_await Offload(pools_.blocking, [&] { return records_.GetImage(id); });
    if (image) ready_.Put(*image);
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

bool ImageService::RemoveBlob(const std::string& sha) {
  return blob_records_.RemoveBlobIfUnreferenced(sha, [&] {
    blobs_.Remove(OriginalKey(sha));
    if (on_blob_released_) on_blob_released_(sha);
  });
}

std::pair<size_t, size_t> ImageService::CollectGarbage(int64_t staging_older_than_ms,
                                                       int64_t orphan_older_than_ms) {
  size_t staged = blobs_.SweepStaging(staging_older_than_ms);
  size_t orphans = 0;
  for (const auto& sha : blob_records_.UnreferencedBlobs(10'000)) {
    std::lock_guard lock(locks_.For(sha));
    if (RemoveBlob(sha)) ++orphans;
  }
  std::vector<std::pair<std::string, uint64_t>> candidates;
  blobs_.ForEach("originals/", [&](const std::string& key, uint64_t size, int64_t mtime) {
    if (mtime < orphan_older_than_ms) candidates.emplace_back(key, size);
  });
  for (const auto& [key, size] : candidates) {
    std::string sha = key.substr(key.find('/') + 1);
    std::lock_guard lock(locks_.For(sha));
    // Bytes no row knows of (a crash between storing them and recording the image) get an
    // unreferenced row and go the one way bytes are removed: under the row lock, so a
    // commit of the same bytes on another node either keeps them or stores them again.
    if (blob_records_.GetBlob(sha)) continue;
    blob_records_.TrackUnrecordedBlob(sha, size);
    if (RemoveBlob(sha)) ++orphans;
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
    if (blob_records_.BlobReferenced(sha)) continue;
    blobs_.Remove(key);
    ++orphans;
  }
  return {staged, orphans};
}

}  // namespace imgd

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
                           BlobLocks& locks, Pools pools, Metrics& metrics,
                           ImageServiceOptions opts)
    : records_(records),
      blob_records_(blob_records),
      blobs_(blobs),
      locks_(locks),
      pools_(pools),
      metrics_(metrics),
      opts_(opts),
      ready_(opts.image_cache_ttl, opts.image_cache_entries) {}

void ImageService::SetEdgePurger(EdgePurger* purger) {
  purger_ = purger;
  if (!purger_) return;
  // A purge made on another node: this node's cached record must not refill the edges.
  const std::string image_key = ImageSurrogateKey("");
  purger_->OnPendingKey([this, image_key](std::string_view key) {
    if (key.starts_with(image_key)) ready_.Erase(std::string(key.substr(image_key.size())));
  });
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

boost::asio::awaitable<std::optional<Image>> ImageService::FindByContent(
    const User& caller, const std::string& sha256) {
  co_return co_await Offload(pools_.blocking,
                             [&] { return records_.FindImageByContent(caller.id, sha256); });
}

boost::asio::awaitable<Image> ImageService::Update(const User& caller, const std::string& id,
                                                   ImageStore::ImageChanges changes) {
  Image before = co_await GetOwned(caller, id);
  const bool purge = purger_ && purger_->enabled() && changes.visibility &&
                     *changes.visibility == kVisibilityPrivate && !before.is_private();
  auto updated = co_await Offload(pools_.blocking, [&] {
    if (purge) purger_->Enqueue({ImageSurrogateKey(id)});
    return records_.UpdateImage(id, changes, caller.id, NowMs());
  });
  ready_.Erase(id);
  if (purge) purger_->Kick();
  if (!updated) throw NotFound("no image " + id);
  co_return *updated;
}

boost::asio::awaitable<void> ImageService::Delete(const User& caller, const std::string& id) {
  Image image = co_await GetOwned(caller, id);
  bool released = co_await Offload(pools_.blocking, [&] {
    // The lock spans "drop the last reference" and "remove the bytes" (see BlobLocks);
    // across nodes, RemoveBlobIfUnreferenced holds the blob row while it removes them.
    if (purger_) purger_->Enqueue({ImageSurrogateKey(id)});
    bool removed = false;
    {
      std::unique_lock<std::mutex> lock;
      if (!image.sha256.empty()) lock = std::unique_lock(locks_.For(image.sha256));
      auto r = records_.DeleteImage(id);
      if (!r.found) throw NotFound("no image " + id);
      removed = r.blob_released && RemoveBlob(r.sha256);
    }
    // After the blob's lock: the index rows are this image's alone.
    if (near_) near_->Unindex(image);
    return removed;
  });
  ready_.Erase(id);
  if (purger_) purger_->Kick();
  if (released) metrics_.Inc("imgd_blobs_deleted_total");
}

boost::asio::awaitable<std::vector<SimilarImage>> ImageService::Similar(const User& caller,
                                                                        const std::string& id,
                                                                        int max_distance) {
  Image image = co_await GetOwned(caller, id);
  if (image.status != kStatusReady) {
    throw Conflict("image " + id + " has no content yet", "image-pending");
  }
  if (!near_) co_return std::vector<SimilarImage>{};
  co_return co_await Offload(pools_.blocking, [&] {
    auto phash = near_->ContentHash(image.sha256, std::nullopt);
    if (!phash) {
      throw Conflict("image " + id + " has no perceptual hash (CMYK, or stored before hashes)",
                     "no-perceptual-hash");
    }
    return near_->Find(image.user_id, *phash, max_distance, image.id);
  });
}

boost::asio::awaitable<Content> ImageService::OpenContent(const std::string& id) {
  if (!IsUuid(id)) throw NotFound("no image " + id);
  // One hop to the blocking pool for both the lookup and the open.
  std::shared_ptr<const Image> cached = ready_.Get(id);
  co_return co_await Offload(pools_.blocking, [&] {
    Content c;
    if (cached) {
      c.image = *cached;
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
    if (auto hit = ready_.Get(id)) co_return *hit;
    image = co_await Offload(pools_.blocking, [&] { return records_.GetImage(id); });
    if (image) ready_.Put(*image);
  }
  co_return RequireReady(std::move(image), id);
}

boost::asio::awaitable<ImageService::WithData> ImageService::GetWithData(const User& caller,
                                                                         const std::string& id,
                                                                         uint64_t max_bytes) {
  WithData out;
  out.image = co_await GetOwned(caller, id);
  if (out.image.status == kStatusReady) out.data = co_await ReadAll(out.image, max_bytes);
  co_return out;
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
    blob_records_.TrackUnrecordedBlob(sha, size, orphan_older_than_ms);
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

#include "service/publish_step.h"

#include <chrono>
#include <exception>

#include "core/clock.h"
#include "core/ids.h"

namespace imgd {

PublishStep::PublishStep(ImageStore& image_records, UploadStore& upload_records,
                         BlobRecordStore& blob_records, BlobStore& blobs, BlobLocks& locks,
                         Pools pools, Metrics& metrics, PublishOptions opts)
    : image_records_(image_records),
      upload_records_(upload_records),
      blob_records_(blob_records),
      blobs_(blobs),
      locks_(locks),
      pools_(pools),
      metrics_(metrics),
      opts_(opts) {}

boost::asio::awaitable<uint64_t> PublishStep::Append(ChunkSource& bytes, StagedBlob& staged,
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

std::string PublishStep::OwnerOf(const RecordAs& as) {
  if (const auto* n = std::get_if<NewImageRecord>(&as)) return n->owner.id;
  if (const auto* r = std::get_if<ResumableRecord>(&as)) return r->owner.id;
  auto pending = image_records_.GetImage(std::get<PendingImageRecord>(as).image_id);
  return pending ? pending->user_id : "";
}

std::optional<ImageStore::CommitResult> PublishStep::Record(
    const RecordAs& as, DuplicatePolicy policy, const BlobInfo& blob,
    const ImageStore::EnsureBytes& ensure_bytes) {
  if (const auto* n = std::get_if<NewImageRecord>(&as)) {
    return image_records_.CommitImage(NewImage(n->owner, n->meta, blob), policy, ensure_bytes);
  }
  if (const auto* p = std::get_if<PendingImageRecord>(&as)) {
    return image_records_.CompletePendingImage(p->image_id, blob, NowMs(), policy, ensure_bytes);
  }
  const auto& r = std::get<ResumableRecord>(as);
  return upload_records_.CompleteUpload(r.upload_id, NewImage(r.owner, r.meta, blob), policy,
                                        ensure_bytes);
}

boost::asio::awaitable<UploadResult> PublishStep::Publish(StagedBlob& staged,
                                                          const std::string& sha,
                                                          DuplicatePolicy policy,
                                                          const RecordAs& as) {
  auto work = PublishOnPool(staged, sha, policy, as);
  co_return co_await OffloadCoroutine(pools_.blocking, std::move(work));
}

boost::asio::awaitable<UploadResult> PublishStep::PublishOnPool(StagedBlob& staged,
                                                                const std::string& sha,
                                                                DuplicatePolicy policy,
                                                                const RecordAs& as) {
  try {
    // Bytes already stored and referenced were validated when first uploaded.
    std::optional<BlobInfo> known = blob_records_.GetBlob(sha);
    BlobInfo blob;
    blob.sha256 = sha;
    blob.size = staged.size();
    std::optional<uint64_t> phash;
    if (known && known->refcount > 0) {
      blob.width = known->width;
      blob.height = known->height;
      blob.blurhash = known->blurhash;
    } else {
      const auto queued_at = std::chrono::steady_clock::now();
      ValidatedJpeg v = co_await Offload(pools_.cpu, [&] {
        RefuseIfWaitedTooLong(queued_at);
        auto reader = staged.OpenReader();
        return ValidateJpeg(*reader, opts_.jpeg);
      });
      blob.width = v.header.width;
      blob.height = v.header.height;
      blob.blurhash = v.blurhash;
      phash = v.phash;
    }
    std::string owner;
    if (near_) {
      phash = near_->ContentHash(sha, phash);
      owner = OwnerOf(as);
    }
    if (policy == DuplicatePolicy::kRejectSimilar && phash && !owner.empty()) {
      auto similar = near_->Find(owner, *phash, near_->threshold());
      if (!similar.empty()) {
        throw Conflict(
            "image " + similar[0].image_id + " looks the same (distance " +
                std::to_string(similar[0].distance) + " of 64)",
            "similar-image",
            {{"existingImageId", similar[0].image_id}, {"distance", similar[0].distance}});
      }
    }
    // The store knows one way to refuse: identical bytes.
    const DuplicatePolicy store_policy =
        policy == DuplicatePolicy::kRejectSimilar ? DuplicatePolicy::kReject : policy;
    // The record's transaction verifies the bytes under the blob row's lock (storing them
    // when missing), the lock every remover takes: no record ever points at missing bytes,
    // whichever node deletes the same bytes meanwhile.
    std::optional<ImageStore::CommitResult> cr = [&] {
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
      return Record(as, store_policy, blob, ensure_bytes);
    }();
    if (!cr) {
      throw Conflict("the upload was already completed, cancelled or has expired",
                     "upload-not-pending");
    }
    if (cr->duplicate && store_policy == DuplicatePolicy::kReject) {
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
    if (cr->created && phash && !owner.empty()) {
      near_->Index(result.image, *phash);
      result.near_duplicates = near_->Find(owner, *phash, near_->threshold(), result.image.id);
      result.near_checked = true;
    }
    metrics_.Inc("imgd_uploads_total", {{"result", cr->created ? "created" : "duplicate"}});
    metrics_.Inc("imgd_upload_bytes_total", {}, static_cast<double>(blob.size));
    co_return result;
  } catch (const Error& e) {
    CountReject(e);
    throw;
  }
}

void PublishStep::RefuseIfWaitedTooLong(std::chrono::steady_clock::time_point queued_at) {
  if (opts_.max_validation_wait.count() <= 0) return;
  if (std::chrono::steady_clock::now() - queued_at <= opts_.max_validation_wait) return;
  throw Unavailable(
      "the server is overloaded: the upload's validation waited too long to start; retry in a "
      "second",
      1, "overloaded");
}

void PublishStep::CountReject(const Error& e) {
  if (e.slug() == "duplicate-image") return;
  metrics_.Inc("imgd_upload_rejects_total", {{"reason", e.slug()}});
  metrics_.Inc("imgd_uploads_total", {{"result", "rejected"}});
}

boost::asio::awaitable<UploadResult> PublishStep::WithStaging(
    std::function<boost::asio::awaitable<UploadResult>(StagedBlob&)> body) {
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

boost::asio::awaitable<UploadResult> PublishStep::StoreNew(const User& owner, ChunkSource& bytes,
                                                           const UploadMeta& meta) {
  co_return co_await WithStaging([&](StagedBlob& staged) -> boost::asio::awaitable<UploadResult> {
    Sha256 hasher;
    try {
      co_await Append(bytes, staged, hasher, opts_.max_upload_bytes);
    } catch (const Error& e) {
      CountReject(e);
      throw;
    }
    // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
    const RecordAs as = NewImageRecord{owner, meta};
    const std::string sha = hasher.FinalHex();
    // Finishing (a sync) and publishing in one trip to the blocking pool.
    auto finish_and_publish = [&]() -> boost::asio::awaitable<UploadResult> {
      staged.Finish();
      co_return co_await PublishOnPool(staged, sha, meta.policy, as);
    };
    auto work = finish_and_publish();
    co_return co_await OffloadCoroutine(pools_.blocking, std::move(work));
  });
}

Image PublishStep::NewImage(const User& owner, const UploadMeta& meta, const BlobInfo& blob) {
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
  im.blurhash = blob.blurhash;
  im.sha256 = blob.sha256;
  return im;
}

}  // namespace imgd

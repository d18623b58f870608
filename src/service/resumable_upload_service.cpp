#include "service/resumable_upload_service.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <vector>

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"

namespace imgd {
namespace {

// Refuses, as early as its first bytes, an upload that is not a JPEG.
class JpegPrefixCheck final : public ChunkSource {
 public:
  JpegPrefixCheck(ChunkSource& in, uint64_t offset) : in_(in), pos_(offset) {}
  boost::asio::awaitable<std::span<const char>> Next() override {
    std::span<const char> chunk = co_await in_.Next();
    static const unsigned char kSoi[] = {0xff, 0xd8, 0xff};
    for (size_t i = 0; pos_ < sizeof(kSoi) && i < chunk.size(); ++i, ++pos_) {
      if (static_cast<unsigned char>(chunk[i]) != kSoi[pos_]) {
        throw UnsupportedMediaType("not a JPEG: the upload does not start with FF D8 FF");
      }
    }
    co_return chunk;
  }

 private:
  ChunkSource& in_;
  uint64_t pos_;
};

// Renews an upload's write lease while its bytes keep flowing (a 1 GB PATCH outlasts one
// lease); stops the request if another node has taken the lease meanwhile.
class LeaseRenewer final : public ChunkSource {
 public:
  LeaseRenewer(ChunkSource& in, std::function<bool()> renew, std::chrono::milliseconds every,
               Pools pools)
      : in_(in),
        renew_(std::move(renew)),
        every_(every),
        pools_(pools),
        next_(std::chrono::steady_clock::now() + every) {}
  boost::asio::awaitable<std::span<const char>> Next() override {
    if (std::chrono::steady_clock::now() >= next_) {
      next_ = std::chrono::steady_clock::now() + every_;
      if (!co_await Offload(pools_.blocking, [this] { return renew_(); })) {
        throw Error(ErrorCode::kConflict, "upload-lease-lost",
                    "another request took over this upload; resume from its offset");
      }
    }
    co_return co_await in_.Next();
  }

 private:
  ChunkSource& in_;
  std::function<bool()> renew_;
  std::chrono::milliseconds every_;
  Pools pools_;
  std::chrono::steady_clock::time_point next_;
};

}  // namespace

ResumableUploadService::ResumableUploadService(PublishStep& publish, ImageStore& image_records,
                                               UploadStore& upload_records, BlobStore& blobs,
                                               Pools pools, Metrics& metrics,
                                               ResumableUploadOptions opts)
    : publish_(publish),
      image_records_(image_records),
      upload_records_(upload_records),
      blobs_(blobs),
      pools_(pools),
      metrics_(metrics),
      opts_(opts),
      node_id_(RandomToken(12)) {}

boost::asio::awaitable<ResumableUpload> ResumableUploadService::CreateResumable(
    const User& owner, const UploadMeta& meta, uint64_t length) {
  if (length == 0) throw BadParameter("Upload-Length", "Upload-Length must be at least 1");
  if (length > opts_.max_upload_bytes) {
    throw PayloadTooLarge("Upload-Length exceeds the upload limit of " +
                          std::to_string(opts_.max_upload_bytes) + " bytes");
  }
  ResumableUpload u;
  u.id = NewUuidV7();
  u.user_id = owner.id;
  u.length = length;
  u.name = meta.name;
  u.description = meta.description;
  u.visibility = meta.visibility;
  u.policy = PolicyName(meta.policy);
  u.created_ms = NowMs();
  u.expires_ms = u.created_ms + opts_.resumable_ttl_ms;
  co_await Offload(pools_.blocking, [&] {
    blobs_.OpenResumable(u.id, true);
    upload_records_.CreateUpload(u);
  });
  metrics_.Inc("imgd_resumable_uploads_total", {{"step", "created"}});
  co_return u;
}

boost::asio::awaitable<ResumableUpload> ResumableUploadService::GetOwnedUpload(
    const User& caller, const std::string& id) {
  if (!IsUuid(id)) throw NotFound("no upload " + id);
  auto u = co_await Offload(pools_.blocking, [&] { return upload_records_.GetUpload(id); });
  if (!u) throw NotFound("no upload " + id);
  if (u->user_id != caller.id && !caller.is_admin) {
    throw Forbidden("upload " + id + " belongs to another user");
  }
  if (u->expires_ms < NowMs()) {
    throw Error(ErrorCode::kGone, "upload-expired",
                "upload " + id + " expired at " + FormatIsoMs(u->expires_ms));
  }
  co_return *u;
}

boost::asio::awaitable<ResumableUploadService::Progress> ResumableUploadService::Status(
    const User& caller, const std::string& id) {
  Progress p;
  p.upload = co_await GetOwnedUpload(caller, id);
  if (!p.upload.image_id.empty()) {
    p.offset = p.upload.length;
    auto image = co_await Offload(pools_.blocking,
                                  [&] { return image_records_.GetImage(p.upload.image_id); });
    if (image) p.image = UploadResult{*image, false, {}, false};
    co_return p;
  }
  // Under the lock: a PATCH cut short by a dropped connection may still be storing what it
  // received, and the offset to resume from is the one it ends at.
  std::shared_ptr<HashState> state = co_await LockUpload(id);
  std::exception_ptr failure;
  try {
    p.offset = co_await Offload(pools_.blocking, [&] {
      auto staged = blobs_.OpenResumable(id, false);
      return staged ? staged->size() : uint64_t{0};
    });
  } catch (...) {
    failure = std::current_exception();
  }
  co_await UnlockUpload(id, state, false);
  if (failure) std::rethrow_exception(failure);
  co_return p;
}

boost::asio::awaitable<std::shared_ptr<ResumableUploadService::HashState>>
ResumableUploadService::LockUpload(const std::string& id) {
  const auto deadline = std::chrono::steady_clock::now() + opts_.busy_wait;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    std::shared_ptr<HashState> state;
    {
      std::lock_guard lock(mu_);
      auto& slot = states_[id];
      if (!slot) slot = std::make_shared<HashState>();
      if (!slot->busy) {
        slot->busy = true;
        state = slot;
      }
    }
    if (state) {
      bool leased = false;
      std::exception_ptr failure;
      try {
        leased = co_await Offload(pools_.blocking, [&] {
          const int64_t now = NowMs();
          return upload_records_.LeaseUpload(id, node_id_, now, now + opts_.lease_ms);
        });
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        // The database is down: give the local flag back, or the upload stays "busy" here
        // after it returns.
        std::lock_guard lock(mu_);
        state->busy = false;
        std::rethrow_exception(failure);
      }
      if (leased) co_return state;
      std::lock_guard lock(mu_);
      state->busy = false;  // another node writes it
    }
    // A dropped connection's PATCH (here or on another node) may still be finishing.
    if (std::chrono::steady_clock::now() >= deadline) {
      Error e(ErrorCode::kBusy, "upload-busy",
              "another request is writing to upload " + id + "; retry shortly");
      e.retry_after = 1;
      throw e;
    }
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

boost::asio::awaitable<void> ResumableUploadService::UnlockUpload(
    const std::string& id, const std::shared_ptr<HashState>& state, bool forget) {
  try {
    co_await Offload(pools_.blocking, [&] { upload_records_.ReleaseUploadLease(id, node_id_); });
  } catch (const std::exception&) {
    // The lease expires by itself.
  }
  std::lock_guard lock(mu_);
  state->busy = false;
  if (forget) states_.erase(id);
}

boost::asio::awaitable<ResumableUploadService::Progress> ResumableUploadService::Patch(
    const User& caller, const std::string& id, uint64_t offset, std::optional<uint64_t> body_length,
    ChunkSource& body) {
  Progress p;
  p.upload = co_await GetOwnedUpload(caller, id);
  std::shared_ptr<HashState> state = co_await LockUpload(id);
  bool forget = false;
  std::exception_ptr failure;
  std::unique_ptr<StagedBlob> staged;
  try {
    // Re-read under the lock: a concurrent PATCH may have completed it meanwhile.
    auto fresh = co_await Offload(pools_.blocking, [&] { return upload_records_.GetUpload(id); });
    if (!fresh) throw NotFound("no upload " + id);
    p.upload = *fresh;
    if (!p.upload.image_id.empty()) {
      throw Error(ErrorCode::kConflict, "upload-completed",
                  "upload " + id + " is complete: image " + p.upload.image_id);
    }
    staged = co_await Offload(pools_.blocking, [&] { return blobs_.OpenResumable(id, true); });
    if (offset != staged->size()) {
      Error e(ErrorCode::kConflict, "offset-mismatch",
              "Upload-Offset is " + std::to_string(offset) + " but the server has " +
                  std::to_string(staged->size()) + " bytes of upload " + id);
      e.retry_after = 0;
      throw e;
    }
    if (body_length && *body_length > p.upload.length - offset) {
      // Refused whole: a part written before the excess arrived would move the offset.
      throw PayloadTooLarge("a PATCH of " + std::to_string(*body_length) + " bytes at offset " +
                            std::to_string(offset) + " passes the upload's length of " +
                            std::to_string(p.upload.length) + " bytes");
    }
    if (state->offset != staged->size()) {
      // No running hash for these bytes (restart, or a failed write): rebuild it from the
      // stored bytes, once.
      state->hasher = std::make_unique<Sha256>();
      state->offset = 0;
      const uint64_t size = staged->size();
      co_await Offload(pools_.blocking,
                       [&] { HashPrefix(*staged->OpenReader(), size, *state->hasher); });
      state->offset = size;
      metrics_.Inc("imgd_resumable_rehashed_bytes_total", {}, static_cast<double>(size));
    }
    LeaseRenewer renewing(
        body,
        [&] {
          const int64_t now = NowMs();
          return upload_records_.LeaseUpload(id, node_id_, now, now + opts_.lease_ms);
        },
        std::chrono::milliseconds(opts_.lease_ms / 3), pools_);
    JpegPrefixCheck checked(renewing, offset);
    std::exception_ptr body_failure;
    try {
      co_await publish_.Append(checked, *staged, *state->hasher, p.upload.length);
    } catch (...) {
      body_failure = std::current_exception();
    }
    // What arrived is kept and made durable before the offset is acknowledged, also when
    // the connection dropped halfway.
    state->offset = staged->size();
    co_await Offload(pools_.blocking, [&] { staged->Finish(); });
    if (body_failure) std::rethrow_exception(body_failure);
    p.offset = staged->size();
    if (p.offset == p.upload.length) {
      p.image = co_await CompleteResumable(p.upload, *staged, *state);
      forget = true;
    }
  } catch (const Error& e) {
    // Bytes that are not a JPEG never will be: the upload is over.
    if (e.code() == ErrorCode::kUnsupportedFormat || e.code() == ErrorCode::kUnprocessable ||
        e.slug() == "duplicate-image") {
      forget = true;
      Discard(id);
    }
    failure = std::current_exception();
  } catch (...) {
    failure = std::current_exception();
  }
  co_await Offload(pools_.blocking, [&] { staged.reset(); });
  co_await UnlockUpload(id, state, forget);
  if (failure) std::rethrow_exception(failure);
  co_return p;
}

boost::asio::awaitable<UploadResult> ResumableUploadService::CompleteResumable(
    const ResumableUpload& u, StagedBlob& staged, HashState& state) {
  User owner;
  owner.id = u.user_id;
  UploadMeta meta;
  meta.name = u.name;
  meta.description = u.description;
  meta.visibility = u.visibility;
  meta.policy = ParsePolicyName(u.policy).value_or(DuplicatePolicy::kReturnExisting);
  const std::string sha = state.hasher->FinalHex();
  // The running hash is spent: if recording fails (the bytes stay, HEAD still reports them),
  // the retry rebuilds it from the stored bytes. Recording is one store call.
  state.offset = 0;
  const RecordAs as = ResumableRecord{u.id, owner, meta};
  UploadResult r = co_await publish_.Publish(staged, sha, meta.policy, as);
  // The bytes moved to their content address, or were a duplicate of stored ones.
  co_await Offload(pools_.blocking, [&] { blobs_.RemoveResumable(u.id); });
  metrics_.Inc("imgd_resumable_uploads_total", {{"step", "completed"}});
  co_return r;
}

void ResumableUploadService::Discard(const std::string& id) {
  try {
    upload_records_.DeleteUpload(id);
    blobs_.RemoveResumable(id);
  } catch (const std::exception&) {
    // The sweep removes what is left.
  }
}

boost::asio::awaitable<void> ResumableUploadService::Terminate(const User& caller,
                                                               const std::string& id) {
  co_await GetOwnedUpload(caller, id);
  std::shared_ptr<HashState> state = co_await LockUpload(id);
  co_await Offload(pools_.blocking, [&] {
    upload_records_.DeleteUpload(id);
    blobs_.RemoveResumable(id);
  });
  co_await UnlockUpload(id, state, true);
  metrics_.Inc("imgd_resumable_uploads_total", {{"step", "terminated"}});
}

size_t ResumableUploadService::Sweep(int64_t now_ms, int64_t orphan_before_ms) {
  size_t removed = 0;
  for (const auto& id : upload_records_.DeleteExpiredUploads(now_ms)) {
    blobs_.RemoveResumable(id);
    std::lock_guard lock(mu_);
    if (auto it = states_.find(id); it != states_.end() && !it->second->busy) states_.erase(it);
    ++removed;
  }
  std::vector<std::string> orphans;
  blobs_.ForEachResumable([&](const std::string& id, int64_t mtime) {
    if (mtime < orphan_before_ms) orphans.push_back(id);
  });
  for (const auto& id : orphans) {
    if (upload_records_.GetUpload(id)) continue;
    blobs_.RemoveResumable(id);
    ++removed;
  }
  return removed;
}

}  // namespace imgd

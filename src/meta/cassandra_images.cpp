// The Cassandra MetaStore's image records: commit with the duplicate rule, pending images,
// reads, lists, changes and deletes.
//
// A commit writes, in order: the duplicate slot (a lightweight transaction), the blob
// reference, the bytes (EnsureBytes), the image rows (one logged batch), the slot marked
// ready. A crash at any step leaves no image pointing at missing bytes: at worst a slot
// that a later commit takes over once its claim is stale, or a reference that keeps bytes.
#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/errors.h"
#include "meta/cassandra_meta_store.h"
#include "meta/record_rows.h"

namespace imgd {
namespace {

const char* const kImageColumns =
    "id, user_id, name, description, created_by, created_ms, modified_by, modified_ms, "
    "format, size, width, height, sha256, status, expires_ms, visibility, blurhash";
// A pending image whose completion has begun (callers see it as pending).
const char* const kCompleting = "completing";
// A duplicate slot claimed longer ago than this belongs to a commit that died.
constexpr int64_t kClaimLeaseMs = 60'000;
// How long a commit waits for a concurrent commit of the same bytes by the same user.
constexpr auto kWaitLimit = std::chrono::seconds(30);

Image ReadImage(const CqlRows& r, size_t row) { return ImageFromRow(r, row); }

void Backoff(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5 << std::min(attempt, 6), 200)));
}

}  // namespace

// --- rows ---

void CassandraMetaStore::WriteImage(const Image& im) {
  // One logged batch: the image, its place in the user's list, and for a ready image its
  // content index and the blob row (written once the bytes are stored, after any remover
  // has finished, which takes the row with it). All or nothing, even across a crash.
  std::string batch = "BEGIN BATCH INSERT INTO " + T("images") + " (" + kImageColumns +
                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?); INSERT INTO " +
                      T("images_by_user") + " (user_id, id) VALUES (?, ?); ";
  std::vector<CqlParam> params = {im.id,
                                  im.user_id,
                                  im.name,
                                  im.description,
                                  im.created_by,
                                  im.created_ms,
                                  im.modified_by,
                                  im.modified_ms,
                                  im.format,
                                  static_cast<int64_t>(im.size),
                                  int64_t{im.width},
                                  int64_t{im.height},
                                  im.sha256,
                                  im.status,
                                  im.expires_ms,
                                  im.visibility,
                                  im.blurhash,
                                  im.user_id,
                                  im.id};
  if (im.status == kStatusReady) {
    batch += "INSERT INTO " + T("user_blobs") + " (user_id, sha256, image_id) VALUES (?, ?, ?); " +
             "INSERT INTO " + T("blobs") +
             " (sha256, size, width, height, blurhash, created_ms) VALUES (?, ?, ?, ?, ?, ?); ";
    params.insert(params.end(),
                  {im.user_id, im.sha256, im.id, im.sha256, static_cast<int64_t>(im.size),
                   int64_t{im.width}, int64_t{im.height}, im.blurhash, NowMs()});
  }
  cql_.Run(batch + "APPLY BATCH", params);
}

void CassandraMetaStore::DeleteImageRows(const Image& im) {
  std::string batch = "BEGIN BATCH DELETE FROM " + T("images") +
                      " WHERE id = ? AND created_ms = ?; DELETE FROM " + T("images_by_user") +
                      " WHERE user_id = ? AND id = ?; ";
  std::vector<CqlParam> params = {im.id, im.created_ms, im.user_id, im.id};
  if (!im.sha256.empty()) {
    batch +=
        "DELETE FROM " + T("user_blobs") + " WHERE user_id = ? AND sha256 = ? AND image_id = ?; ";
    params.insert(params.end(), {im.user_id, im.sha256, im.id});
  }
  cql_.Run(batch + "APPLY BATCH", params);
}

// --- commit ---

MetaStore::CommitResult CassandraMetaStore::Commit(Image ready, DuplicatePolicy policy,
                                                   const EnsureBytes& ensure_bytes) {
  ready.status = kStatusReady;
  ready.expires_ms = 0;
  CommitResult result;
  std::optional<Image> existing;
  bool own_slot = false;
  const auto give_up = std::chrono::steady_clock::now() + kWaitLimit;
  for (int attempt = 0; !own_slot; ++attempt) {
    auto r = cql_.Cas("INSERT INTO " + T("dedup_slots") +
                          " (user_id, sha256, image_id, state, claimed_ms) VALUES (?, ?, ?, "
                          "'claiming', ?) IF NOT EXISTS",
                      {ready.user_id, ready.sha256, ready.id, NowMs()});
    if (r.Applied()) {
      own_slot = true;
      break;
    }
    const std::string holder = r.Text(0, r.Column("image_id"));
    const std::string state = r.Text(0, r.Column("state"));
    if (holder == ready.id) {  // our own claim (a completion resumed after a crash)
      own_slot = true;
      break;
    }
    existing = GetImage(holder);
    if (existing && existing->status == kStatusReady) break;
    existing.reset();
    if (state != "ready" && NowMs() - r.Int(0, r.Column("claimed_ms")) < kClaimLeaseMs) {
      // Another commit of these bytes by this user is in flight: its outcome decides ours.
      if (policy == DuplicatePolicy::kNew) break;
      if (std::chrono::steady_clock::now() > give_up) {
        throw StoreError("cassandra: a concurrent upload of the same bytes is still committing");
      }
      Backoff(attempt);
      continue;
    }
    // The slot names an image that is gone, or a commit that died: take it over.
    own_slot = cql_.Cas("UPDATE " + T("dedup_slots") +
                            " SET image_id = ?, state = 'claiming', claimed_ms = ? "
                            "WHERE user_id = ? AND sha256 = ? IF image_id = ? AND state = ?",
                        {ready.id, NowMs(), ready.user_id, ready.sha256, holder, state})
                   .Applied();
  }
  if (existing && policy != DuplicatePolicy::kNew) {
    result.image = std::move(*existing);
    result.duplicate = true;
    return result;
  }
  try {
    result.blob_refcount = AddBlobReference(ready);
    if (ensure_bytes) ensure_bytes();
    WriteImage(ready);
  } catch (...) {
    // Nothing is recorded: the reference and the claim go (if this fails too, the
    // reference only keeps bytes and the claim goes stale).
    try {
      DropBlobReference(ready.sha256, ready.id);
      if (own_slot) {
        cql_.Cas(
            "DELETE FROM " + T("dedup_slots") + " WHERE user_id = ? AND sha256 = ? IF image_id = ?",
            {ready.user_id, ready.sha256, ready.id});
      }
    } catch (const StoreError&) {
    }
    throw;
  }
  if (own_slot) {
    try {
      cql_.Cas("UPDATE " + T("dedup_slots") +
                   " SET state = 'ready' WHERE user_id = ? AND sha256 = ? IF image_id = ?",
               {ready.user_id, ready.sha256, ready.id});
    } catch (const StoreError&) {
      // The image is recorded; a later commit finds it through the slot all the same.
    }
  }
  result.image = std::move(ready);
  result.duplicate = existing.has_value();
  result.created = true;
  return result;
}

MetaStore::CommitResult CassandraMetaStore::CommitImage(const Image& candidate,
                                                        DuplicatePolicy policy,
                                                        const EnsureBytes& ensure_bytes) {
  return Commit(candidate, policy, ensure_bytes);
}

// --- pending images ---

void CassandraMetaStore::CreatePendingImage(const Image& image) {
  Image pending = image;
  pending.status = kStatusPending;
  pending.sha256.clear();
  WriteImage(pending);
  IndexExpiry("pending", pending.id, pending.expires_ms);
}

std::optional<MetaStore::CommitResult> CassandraMetaStore::CompletePendingImage(
    const std::string& image_id, const BlobInfo& blob, int64_t now_ms, DuplicatePolicy policy,
    const EnsureBytes& ensure_bytes) {
  auto row = ReadImageRow(image_id);
  if (!row) return std::nullopt;
  const Image pending = std::move(*row);
  if (pending.status != kStatusPending || pending.expires_ms < now_ms) return std::nullopt;
  // One completion wins; the others find the image no longer pending.
  if (!cql_.Cas("UPDATE " + T("images") +
                    " SET status = ? WHERE id = ? AND created_ms = ? IF status = ?",
                {kCompleting, image_id, pending.created_ms, kStatusPending})
           .Applied()) {
    return std::nullopt;
  }
  Image ready = pending;
  ready.sha256 = blob.sha256;
  ready.size = blob.size;
  ready.width = blob.width;
  ready.height = blob.height;
  ready.blurhash = blob.blurhash;
  ready.modified_ms = now_ms;
  CommitResult result;
  try {
    result = Commit(ready, policy, ensure_bytes);
  } catch (...) {
    try {
      cql_.Cas(
          "UPDATE " + T("images") + " SET status = ? WHERE id = ? AND created_ms = ? IF status = ?",
          {kStatusPending, image_id, pending.created_ms, kCompleting});
    } catch (const StoreError&) {
    }
    throw;
  }
  if (!result.created) DeleteImageRows(pending);
  UnindexExpiry("pending", image_id, pending.expires_ms);
  return result;
}

std::vector<std::string> CassandraMetaStore::DeleteExpiredPending(int64_t now_ms) {
  std::vector<std::string> ids;
  for (const auto& [id, at] : DueExpiries("pending", now_ms)) {
    if (auto row = ReadImageRow(id)) {
      const Image& im = *row;
      // A completion that died long ago is as expired as the upload it finished.
      const bool dead = im.status == kCompleting && im.expires_ms < now_ms - kClaimLeaseMs * 10;
      if (im.status == kStatusPending || dead) {
        DeleteImageRows(im);
        ids.push_back(id);
      }
    }
    UnindexExpiry("pending", id, at);
  }
  return ids;
}

// --- reads and changes ---

std::optional<Image> CassandraMetaStore::ReadImageRow(const std::string& image_id) {
  auto r = cql_.Run(
      "SELECT " + std::string(kImageColumns) + " FROM " + T("images") + " WHERE id = ? LIMIT 1",
      {image_id});
  if (r.empty()) return std::nullopt;
  return ReadImage(r, 0);
}

std::optional<Image> CassandraMetaStore::GetImage(const std::string& image_id) {
  auto row = ReadImageRow(image_id);
  if (!row) return std::nullopt;
  Image im = std::move(*row);
  if (im.status == kCompleting) im.status = kStatusPending;
  return im;
}

std::optional<Image> CassandraMetaStore::FindImageByContent(const std::string& user_id,
                                                            const std::string& sha256) {
  // The user's slot for these bytes names the image the duplicate rule returns.
  auto r =
      cql_.Run("SELECT image_id FROM " + T("dedup_slots") + " WHERE user_id = ? AND sha256 = ?",
               {user_id, sha256});
  if (r.empty()) return std::nullopt;
  auto image = GetImage(r.Text(0, 0));
  if (!image || image->status != kStatusReady || image->user_id != user_id) return std::nullopt;
  return image;
}

std::vector<Image> CassandraMetaStore::ListImages(const std::string& user_id, int limit,
                                                  const std::string& after_id) {
  const std::string table = T("images_by_user");
  auto ids = after_id.empty()
                 ? cql_.Run("SELECT id FROM " + table + " WHERE user_id = ? LIMIT ?",
                            {user_id, int64_t{limit}})
                 : cql_.Run("SELECT id FROM " + table + " WHERE user_id = ? AND id < ? LIMIT ?",
                            {user_id, after_id, int64_t{limit}});
  if (ids.empty()) return {};
  std::vector<std::string> wanted;
  for (size_t i = 0; i < ids.size(); ++i) wanted.push_back(ids.Text(i, 0));
  auto r = cql_.Run(
      "SELECT " + std::string(kImageColumns) + " FROM " + T("images") + " WHERE id IN ?", {wanted});
  std::vector<Image> found;
  for (size_t i = 0; i < r.size(); ++i) found.push_back(ReadImage(r, i));
  // In the index's order; an index entry whose image is gone (a delete halfway) is skipped.
  std::vector<Image> out;
  for (const auto& id : wanted) {
    for (auto& im : found) {
      if (im.id == id) {
        if (im.status == kCompleting) im.status = kStatusPending;
        out.push_back(std::move(im));
        break;
      }
    }
  }
  return out;
}

std::optional<Image> CassandraMetaStore::UpdateImage(const std::string& image_id,
                                                     const ImageChanges& changes,
                                                     const std::string& modified_by,
                                                     int64_t modified_ms) {
  auto image = GetImage(image_id);
  if (!image) return std::nullopt;
  // Only the fields asked for, so concurrent changes of different fields both stay.
  std::string set;
  std::vector<CqlParam> params;
  auto change = [&](const char* column, const std::optional<std::string>& v, std::string& field) {
    if (!v) return;
    set += std::string(column) + " = ?, ";
    params.push_back(*v);
    field = *v;
  };
  change("name", changes.name, image->name);
  change("description", changes.description, image->description);
  change("visibility", changes.visibility, image->visibility);
  image->modified_by = modified_by;
  image->modified_ms = modified_ms;
  params.insert(params.end(), {modified_by, modified_ms, image_id, image->created_ms});
  // IF EXISTS: a change racing a delete must not bring back part of the row.
  if (!cql_.Cas("UPDATE " + T("images") + " SET " + set +
                    "modified_by = ?, modified_ms = ? WHERE id = ? AND created_ms = ? IF EXISTS",
                params)
           .Applied()) {
    return std::nullopt;
  }
  return image;
}

MetaStore::DeleteResult CassandraMetaStore::DeleteImage(const std::string& image_id) {
  DeleteResult d;
  auto row = ReadImageRow(image_id);
  if (!row) return d;
  const Image im = std::move(*row);
  d.found = true;
  DeleteImageRows(im);
  if (im.status != kStatusReady) {
    UnindexExpiry("pending", im.id, im.expires_ms);
    return d;
  }
  d.sha256 = im.sha256;
  DropBlobReference(im.sha256, im.id);
  d.blob_released = MarkIfUnreferenced(im.sha256);
  // The duplicate slot moves to the user's next image of these bytes, or goes.
  auto slot =
      cql_.Run("SELECT image_id FROM " + T("dedup_slots") + " WHERE user_id = ? AND sha256 = ?",
               {im.user_id, im.sha256});
  if (!slot.empty() && slot.Text(0, 0) == im.id) {
    auto next = cql_.Run(
        "SELECT image_id FROM " + T("user_blobs") + " WHERE user_id = ? AND sha256 = ? LIMIT 1",
        {im.user_id, im.sha256});
    if (next.empty()) {
      cql_.Cas(
          "DELETE FROM " + T("dedup_slots") + " WHERE user_id = ? AND sha256 = ? IF image_id = ?",
          {im.user_id, im.sha256, im.id});
    } else {
      cql_.Cas("UPDATE " + T("dedup_slots") +
                   " SET image_id = ?, state = 'ready' WHERE user_id = ? AND sha256 = ? "
                   "IF image_id = ?",
               {next.Text(0, 0), im.user_id, im.sha256, im.id});
    }
  }
  return d;
}

}  // namespace imgd

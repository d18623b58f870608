#include "meta/sql_image_rows.h"

#include "meta/record_rows.h"

namespace imgd::sql {

const char* const kImageColumns =
    "id, user_id, name, description, created_by, created_ms, modified_by, modified_ms, "
    "format, size, width, height, COALESCE(sha256, ''), status, expires_ms, visibility, "
    "blurhash";
const char* const kUserColumns = "id, name, email, is_admin, created_ms";

Image ReadImage(const SqlRows& r, size_t row) { return ImageFromRow(r, row); }

User ReadUser(const SqlRows& r, size_t row) { return UserFromRow(r, row); }

std::optional<Image> SelectImage(SqlSession& s, const SqlDialect& d, const std::string& id,
                                 bool lock) {
  auto r = s.Exec(std::string("SELECT ") + kImageColumns + " FROM images WHERE id = ?" +
                      (lock ? d.for_update : ""),
                  {id});
  if (r.empty()) return std::nullopt;
  return ReadImage(r, 0);
}

void InsertImage(SqlSession& s, const Image& im, bool dedup_slot) {
  const SqlParam sha = im.sha256.empty() ? SqlParam(nullptr) : SqlParam(im.sha256);
  s.Exec(
      "INSERT INTO images(id, user_id, name, description, created_by, created_ms, modified_by, "
      "modified_ms, format, size, width, height, sha256, status, expires_ms, visibility, "
      "blurhash, dedup_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
      {im.id, im.user_id, im.name, im.description, im.created_by, im.created_ms, im.modified_by,
       im.modified_ms, im.format, static_cast<int64_t>(im.size), int64_t{im.width},
       int64_t{im.height}, sha, im.status, im.expires_ms, im.visibility, im.blurhash,
       dedup_slot ? sha : SqlParam(nullptr)});
}

int64_t AddBlobReference(SqlSession& s, const Image& im, int64_t now_ms) {
  auto r = s.Exec(
      "INSERT INTO blobs(sha256, size, width, height, blurhash, refcount, created_ms) "
      "VALUES (?,?,?,?,?,1,?) ON CONFLICT (sha256) DO UPDATE SET refcount = blobs.refcount + 1, "
      "blurhash = COALESCE(NULLIF(excluded.blurhash, ''), blobs.blurhash) RETURNING refcount",
      {im.sha256, static_cast<int64_t>(im.size), int64_t{im.width}, int64_t{im.height}, im.blurhash,
       now_ms});
  return r.empty() ? 0 : r.Int(0, 0);
}

std::optional<ImageStore::CommitResult> CommitReady(SqlSession& s, const SqlDialect& d, Image ready,
                                                    DuplicatePolicy policy,
                                                    const std::string* pending_id,
                                                    const ImageStore::EnsureBytes& ensure_bytes) {
  ImageStore::CommitResult result;
  std::optional<Image> existing;
  {
    auto r = s.Exec(std::string("SELECT ") + kImageColumns +
                        " FROM images WHERE user_id = ? AND sha256 = ? AND status = 'ready' "
                        "ORDER BY id LIMIT 1",
                    {ready.user_id, ready.sha256});
    if (!r.empty()) existing = ReadImage(r, 0);
  }
  if (pending_id) {
    auto r = s.Exec(
        std::string("SELECT 1 FROM images WHERE id = ? AND status = 'pending'") + d.for_update,
        {*pending_id});
    if (r.empty()) return std::nullopt;
  }
  if (existing && policy != DuplicatePolicy::kNew) {
    if (pending_id) s.Exec("DELETE FROM images WHERE id = ?", {*pending_id});
    result.image = *existing;
    result.duplicate = true;
    return result;
  }
  ready.status = kStatusReady;
  ready.expires_ms = 0;
  if (pending_id) {
    auto r =
        s.Exec(std::string(
                   "UPDATE images SET size = ?, width = ?, height = ?, sha256 = ?, "
                   "blurhash = ?, status = 'ready', expires_ms = 0, dedup_key = ?, modified_ms = ? "
                   "WHERE id = ? RETURNING ") +
                   kImageColumns,
               {static_cast<int64_t>(ready.size), int64_t{ready.width}, int64_t{ready.height},
                ready.sha256, ready.blurhash, existing ? SqlParam(nullptr) : SqlParam(ready.sha256),
                ready.modified_ms, *pending_id});
    ready = ReadImage(r, 0);
  } else {
    InsertImage(s, ready, !existing);
  }
  result.blob_refcount = AddBlobReference(s, ready, ready.modified_ms);
  // The blob row is locked (written) by this transaction and holds our reference: a
  // remover on any node now waits, or has finished and taken the row with it (then the
  // reference above created it afresh). Bytes verified here stay.
  if (ensure_bytes) ensure_bytes();
  result.image = std::move(ready);
  result.duplicate = existing.has_value();
  result.created = true;
  return result;
}

}  // namespace imgd::sql

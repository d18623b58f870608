// The SQL MetaStore's smaller roles: resumable uploads, idempotency keys, secrets and the
// export/import used by `imgd migrate`.
#include "core/clock.h"
#include "core/errors.h"
#include "meta/record_rows.h"
#include "meta/sql_image_rows.h"
#include "meta/sql_meta_store.h"

namespace imgd {

// --- resumable uploads ---

void SqlMetaStore::CreateUpload(const ResumableUpload& u) {
  Run([&](SqlSession& s) {
    s.Exec(
        "INSERT INTO uploads(id, user_id, length, name, description, policy, created_ms, "
        "expires_ms, visibility) VALUES (?,?,?,?,?,?,?,?,?)",
        {u.id, u.user_id, static_cast<int64_t>(u.length), u.name, u.description, u.policy,
         u.created_ms, u.expires_ms, u.visibility});
  });
}

std::optional<ResumableUpload> SqlMetaStore::GetUpload(const std::string& upload_id) {
  return Run([&](SqlSession& s) -> std::optional<ResumableUpload> {
    auto r = s.Exec(
        "SELECT id, user_id, length, name, description, policy, created_ms, expires_ms, "
        "COALESCE(image_id, ''), visibility FROM uploads WHERE id = ?",
        {upload_id});
    if (r.empty()) return std::nullopt;
    return UploadFromRow(r, 0);
  });
}

std::optional<MetaStore::CommitResult> SqlMetaStore::CompleteUpload(
    const std::string& upload_id, const Image& candidate, DuplicatePolicy policy,
    const EnsureBytes& ensure_bytes) {
  return Run(Txn::kWrite, [&](SqlSession& s) -> std::optional<CommitResult> {
    auto r = s.Exec(std::string("SELECT COALESCE(image_id, '') FROM uploads WHERE id = ?") +
                        dialect().for_update,
                    {upload_id});
    if (r.empty() || !r.Text(0, 0).empty()) return std::nullopt;
    auto result = sql::CommitReady(s, dialect(), candidate, policy, nullptr, ensure_bytes);
    s.Exec("UPDATE uploads SET image_id = ? WHERE id = ?", {result->image.id, upload_id});
    return result;
  });
}

bool SqlMetaStore::DeleteUpload(const std::string& upload_id) {
  return Run([&](SqlSession& s) {
    return !s.Exec("DELETE FROM uploads WHERE id = ? RETURNING id", {upload_id}).empty();
  });
}

bool SqlMetaStore::LeaseUpload(const std::string& upload_id, const std::string& owner,
                               int64_t now_ms, int64_t until_ms) {
  return Run([&](SqlSession& s) {
    return !s.Exec(
                 "UPDATE uploads SET lease_owner = ?, lease_until = ? WHERE id = ? AND "
                 "(lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) RETURNING 1",
                 {owner, until_ms, upload_id, owner, now_ms})
                .empty();
  });
}

void SqlMetaStore::ReleaseUploadLease(const std::string& upload_id, const std::string& owner) {
  Run([&](SqlSession& s) {
    s.Exec(
        "UPDATE uploads SET lease_owner = NULL, lease_until = 0 WHERE id = ? AND "
        "lease_owner = ?",
        {upload_id, owner});
  });
}

std::vector<std::string> SqlMetaStore::DeleteExpiredUploads(int64_t now_ms) {
  return Run([&](SqlSession& s) {
    auto r = s.Exec("DELETE FROM uploads WHERE expires_ms < ? RETURNING id", {now_ms});
    std::vector<std::string> ids;
    for (size_t i = 0; i < r.size(); ++i) ids.push_back(r.Text(i, 0));
    return ids;
  });
}

// --- idempotency keys ---

bool SqlMetaStore::ClaimIdempotencyKey(const std::string& user_id, const std::string& key,
                                       const std::string& fingerprint, int64_t now_ms,
                                       int64_t stale_before_ms, int64_t expired_before_ms) {
  // One statement: the primary key makes concurrent claims queue, and exactly one inserts
  // or takes over a stale record.
  return Run([&](SqlSession& s) {
    return !s.Exec(
                 "INSERT INTO idempotency_keys(user_id, key, fingerprint, done, created_ms) "
                 "VALUES (?,?,?,0,?) ON CONFLICT (user_id, key) DO UPDATE SET "
                 "fingerprint = excluded.fingerprint, done = 0, status = 0, body = '', "
                 "location = '', created_ms = excluded.created_ms "
                 "WHERE (idempotency_keys.done = 0 AND idempotency_keys.created_ms < ?) OR "
                 "(idempotency_keys.done = 1 AND idempotency_keys.created_ms < ?) RETURNING 1",
                 {user_id, key, fingerprint, now_ms, stale_before_ms, expired_before_ms})
                .empty();
  });
}

std::optional<IdempotencyRecord> SqlMetaStore::GetIdempotencyKey(const std::string& user_id,
                                                                 const std::string& key) {
  return Run([&](SqlSession& s) -> std::optional<IdempotencyRecord> {
    auto r = s.Exec(
        "SELECT fingerprint, done, status, body, location, created_ms FROM idempotency_keys "
        "WHERE user_id = ? AND key = ?",
        {user_id, key});
    if (r.empty()) return std::nullopt;
    return IdempotencyFromRow(r, 0);
  });
}

void SqlMetaStore::CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                                          const IdempotencyRecord& rec) {
  Run([&](SqlSession& s) {
    s.Exec(
        "UPDATE idempotency_keys SET fingerprint = ?, done = 1, status = ?, body = ?, "
        "location = ? WHERE user_id = ? AND key = ?",
        {rec.fingerprint, int64_t{rec.status}, rec.body, rec.location, user_id, key});
  });
}

void SqlMetaStore::ReleaseIdempotencyKey(const std::string& user_id, const std::string& key) {
  Run([&](SqlSession& s) {
    s.Exec("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND done = 0",
           {user_id, key});
  });
}

size_t SqlMetaStore::DeleteExpiredIdempotencyKeys(int64_t before_ms) {
  return Run([&](SqlSession& s) {
    return s.Exec("DELETE FROM idempotency_keys WHERE created_ms < ? RETURNING 1", {before_ms})
        .size();
  });
}

// --- secrets ---

std::string SqlMetaStore::GetOrCreateSecret(const std::string& name, const std::string& candidate) {
  return Run([&](SqlSession& s) {
    s.Exec("INSERT INTO secrets(name, value, created_ms) VALUES (?,?,?) ON CONFLICT DO NOTHING",
           {name, candidate, NowMs()});
    auto r = s.Exec("SELECT value FROM secrets WHERE name = ?", {name});
    if (r.empty()) throw StoreError("secret " + name + " vanished");
    return r.Text(0, 0);
  });
}

// --- export and import (imgd migrate) ---

std::vector<MetaStore::UserExport> SqlMetaStore::ExportUsers(const std::string& after_id,
                                                             int limit) {
  return Run([&](SqlSession& s) {
    auto r = s.Exec(
        std::string("SELECT ") + sql::kUserColumns + " FROM users WHERE id > ? ORDER BY id LIMIT ?",
        {after_id, int64_t{limit}});
    std::vector<UserExport> out;
    for (size_t i = 0; i < r.size(); ++i) out.push_back({sql::ReadUser(r, i), {}});
    for (auto& u : out) {
      auto k =
          s.Exec("SELECT key_hash FROM api_keys WHERE user_id = ? ORDER BY key_hash", {u.user.id});
      for (size_t i = 0; i < k.size(); ++i) u.key_hashes.push_back(k.Text(i, 0));
    }
    return out;
  });
}

void SqlMetaStore::ImportUser(const UserExport& u) {
  Run(Txn::kWrite, [&](SqlSession& s) {
    s.Exec(
        "INSERT INTO users(id, name, email, is_admin, created_ms) VALUES (?,?,?,?,?) "
        "ON CONFLICT (id) DO NOTHING",
        {u.user.id, u.user.name, u.user.email, int64_t{u.user.is_admin ? 1 : 0},
         u.user.created_ms});
    for (const auto& k : u.key_hashes) {
      s.Exec(
          "INSERT INTO api_keys(key_hash, user_id, created_ms) VALUES (?,?,?) "
          "ON CONFLICT (key_hash) DO NOTHING",
          {k, u.user.id, u.user.created_ms});
    }
  });
}

std::vector<Image> SqlMetaStore::ExportImages(const std::string& after_id, int limit) {
  return Run([&](SqlSession& s) {
    auto r = s.Exec(std::string("SELECT ") + sql::kImageColumns +
                        " FROM images WHERE id > ? AND status = 'ready' ORDER BY id LIMIT ?",
                    {after_id, int64_t{limit}});
    std::vector<Image> out;
    for (size_t i = 0; i < r.size(); ++i) out.push_back(sql::ReadImage(r, i));
    return out;
  });
}

bool SqlMetaStore::ImportImage(const Image& im) {
  return Run(Txn::kWrite, [&](SqlSession& s) {
    if (sql::SelectImage(s, dialect(), im.id)) return false;
    const bool first =
        s.Exec("SELECT 1 FROM images WHERE user_id = ? AND dedup_key = ?", {im.user_id, im.sha256})
            .empty();
    sql::InsertImage(s, im, first);
    sql::AddBlobReference(s, im, im.created_ms);
    return true;
  });
}

void SqlMetaStore::SetPlaceholder(const Image& im, const std::string& blurhash) {
  Run(Txn::kWrite, [&](SqlSession& s) {
    s.Exec("UPDATE images SET blurhash = ? WHERE id = ?", {blurhash, im.id});
    s.Exec("UPDATE blobs SET blurhash = ? WHERE sha256 = ?", {blurhash, im.sha256});
  });
}

}  // namespace imgd

// The Cassandra MetaStore's smaller roles: users and keys, resumable uploads, idempotency
// keys, secrets, and the export/import of `imgd migrate`.
#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "meta/cassandra_meta_store.h"
#include "meta/record_rows.h"

namespace imgd {
namespace {

const char* const kUserColumns = "id, name, email, is_admin, created_ms";
const char* const kUploadColumns =
    "id, user_id, length, name, description, policy, created_ms, expires_ms, image_id, "
    "visibility, state, state_ms";  // UploadFromRow's order, then the completion state
// A completion of a resumable upload that has not finished after this is taken over.
constexpr int64_t kCompletionLeaseMs = 60'000;

User ReadUser(const CqlRows& r, size_t row) { return UserFromRow(r, row); }

}  // namespace

// --- users and keys ---

void CassandraMetaStore::CreateUser(const User& user, const std::string& key_hash) {
  cql_.Run("BEGIN BATCH INSERT INTO " + T("users") + " (" + kUserColumns +
               ") VALUES (?, ?, ?, ?, ?); INSERT INTO " + T("api_keys") +
               " (key_hash, user_id, created_ms) VALUES (?, ?, ?); INSERT INTO " +
               T("keys_by_user") + " (user_id, key_hash) VALUES (?, ?); APPLY BATCH",
           {user.id, user.name, user.email, user.is_admin, user.created_ms, key_hash, user.id,
            user.created_ms, user.id, key_hash});
}

void CassandraMetaStore::AddKey(const std::string& user_id, const std::string& key_hash,
                                int64_t created_ms) {
  cql_.Run("BEGIN BATCH INSERT INTO " + T("api_keys") +
               " (key_hash, user_id, created_ms) VALUES (?, ?, ?); INSERT INTO " +
               T("keys_by_user") + " (user_id, key_hash) VALUES (?, ?); APPLY BATCH",
           {key_hash, user_id, created_ms, user_id, key_hash});
}

std::optional<User> CassandraMetaStore::FindUserByKeyHash(const std::string& key_hash) {
  auto k = cql_.Run("SELECT user_id FROM " + T("api_keys") + " WHERE key_hash = ?", {key_hash});
  if (k.empty()) return std::nullopt;
  auto user = GetUser(k.Text(0, 0));
  // The admin row names the admin's one key; a replaced key's row may linger a moment.
  if (user && user->is_admin) {
    auto admin = cql_.Run("SELECT key_hash FROM " + T("admin") + " WHERE id = 'admin'", {});
    if (admin.empty() || admin.Text(0, 0) != key_hash) return std::nullopt;
  }
  return user;
}

std::optional<User> CassandraMetaStore::GetUser(const std::string& user_id) {
  auto r = cql_.Run("SELECT " + std::string(kUserColumns) + " FROM " + T("users") + " WHERE id = ?",
                    {user_id});
  if (r.empty()) return std::nullopt;
  return ReadUser(r, 0);
}

void CassandraMetaStore::SetAdminKey(const std::string& key_hash) {
  // The admin row holds the admin's id and its one key, changed only by compare-and-set:
  // the first node to insert it names the admin, and of nodes setting keys at once the
  // last to swap wins.
  std::string admin_id = NewUuidV7();
  auto cur = cql_.Cas(
      "INSERT INTO " + T("admin") + " (id, user_id, key_hash) VALUES ('admin', ?, ?) IF NOT EXISTS",
      {admin_id, key_hash});
  if (!cur.Applied()) admin_id = cur.Text(0, cur.Column("user_id"));
  for (int attempt = 0; !cur.Applied() && attempt < 16; ++attempt) {
    // A failed swap answers with the current key only.
    const std::string old_key = cur.Text(0, cur.Column("key_hash"));
    if (old_key == key_hash) break;
    cur = cql_.Cas("UPDATE " + T("admin") + " SET key_hash = ? WHERE id = 'admin' IF key_hash = ?",
                   {key_hash, old_key});
  }
  const int64_t now = NowMs();
  if (!GetUser(admin_id)) {
    cql_.Run(
        "INSERT INTO " + T("users") + " (" + kUserColumns + ") VALUES (?, 'admin', '', true, ?)",
        {admin_id, now});
  }
  AddKey(admin_id, key_hash, now);
  auto keys =
      cql_.Run("SELECT key_hash FROM " + T("keys_by_user") + " WHERE user_id = ?", {admin_id});
  auto current = cql_.Run("SELECT key_hash FROM " + T("admin") + " WHERE id = 'admin'", {});
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!current.empty() && keys.Text(i, 0) == current.Text(0, 0)) continue;
    cql_.Run("BEGIN BATCH DELETE FROM " + T("api_keys") + " WHERE key_hash = ?; DELETE FROM " +
                 T("keys_by_user") + " WHERE user_id = ? AND key_hash = ?; APPLY BATCH",
             {keys.Text(i, 0), admin_id, keys.Text(i, 0)});
  }
}

bool CassandraMetaStore::HasAdmin() {
  return !cql_.Run("SELECT user_id FROM " + T("admin") + " WHERE id = 'admin'", {}).empty();
}

// --- resumable uploads ---

void CassandraMetaStore::CreateUpload(const ResumableUpload& u) {
  cql_.Run("INSERT INTO " + T("uploads") + " (" + kUploadColumns +
               ", lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, '', 0, '', 0)",
           {u.id, u.user_id, static_cast<int64_t>(u.length), u.name, u.description, u.policy,
            u.created_ms, u.expires_ms, u.visibility});
  IndexExpiry("upload", u.id, u.expires_ms);
}

std::optional<ResumableUpload> CassandraMetaStore::GetUpload(const std::string& upload_id) {
  auto r =
      cql_.Run("SELECT " + std::string(kUploadColumns) + " FROM " + T("uploads") + " WHERE id = ?",
               {upload_id});
  if (r.empty()) return std::nullopt;
  ResumableUpload u = UploadFromRow(r, 0);
  // The image id is the upload's result only once completed.
  if (r.Text(0, 10) != "completed") u.image_id.clear();
  return u;
}

std::optional<MetaStore::CommitResult> CassandraMetaStore::CompleteUpload(
    const std::string& upload_id, const Image& candidate, DuplicatePolicy policy,
    const EnsureBytes& ensure_bytes) {
  // The mark first ("completing" under the image's id), then the image under that id, then
  // "completed": a completion that died is resumed by the next one after its lease.
  Image image = candidate;
  const std::string table = T("uploads");
  auto mark = cql_.Cas("UPDATE " + table +
                           " SET state = 'completing', image_id = ?, state_ms = ? WHERE id = ? "
                           "IF state = ''",
                       {image.id, NowMs(), upload_id});
  if (!mark.Applied()) {
    const size_t state = mark.Column("state");
    if (state >= mark.columns() || mark.Text(0, state) != "completing") return std::nullopt;
    const int64_t since = mark.Int(0, mark.Column("state_ms"));
    if (NowMs() - since < kCompletionLeaseMs) return std::nullopt;  // still running elsewhere
    image.id = mark.Text(0, mark.Column("image_id"));
    if (!cql_.Cas("UPDATE " + table +
                      " SET state_ms = ? WHERE id = ? IF state = 'completing' AND state_ms = ?",
                  {NowMs(), upload_id, since})
             .Applied()) {
      return std::nullopt;
    }
  }
  CommitResult result;
  try {
    result = Commit(image, policy, ensure_bytes);
  } catch (...) {
    try {
      cql_.Cas("UPDATE " + table + " SET state = '', image_id = '' WHERE id = ? IF image_id = ?",
               {upload_id, image.id});
    } catch (const StoreError&) {
    }
    throw;
  }
  cql_.Cas(
      "UPDATE " + table + " SET state = 'completed', image_id = ? WHERE id = ? IF image_id = ?",
      {result.image.id, upload_id, image.id});
  return result;
}

bool CassandraMetaStore::DeleteUpload(const std::string& upload_id) {
  auto r = cql_.Cas("DELETE FROM " + T("uploads") + " WHERE id = ? IF EXISTS", {upload_id});
  return r.Applied();
}

bool CassandraMetaStore::LeaseUpload(const std::string& upload_id, const std::string& owner,
                                     int64_t now_ms, int64_t until_ms) {
  // Compare-and-set from the values last seen: CQL conditions have no OR.
  std::string seen_owner = "";
  int64_t seen_until = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto r = cql_.Cas("UPDATE " + T("uploads") +
                          " SET lease_owner = ?, lease_until = ? WHERE id = ? "
                          "IF lease_owner = ? AND lease_until = ?",
                      {owner, until_ms, upload_id, seen_owner, seen_until});
    if (r.Applied()) return true;
    const size_t o = r.Column("lease_owner");
    if (o >= r.columns() || r.empty()) return false;  // no such upload
    seen_owner = r.Text(0, o);
    seen_until = r.Int(0, r.Column("lease_until"));
    if (!(seen_owner.empty() || seen_owner == owner || seen_until < now_ms)) return false;
  }
  return false;
}

void CassandraMetaStore::ReleaseUploadLease(const std::string& upload_id,
                                            const std::string& owner) {
  cql_.Cas("UPDATE " + T("uploads") +
               " SET lease_owner = '', lease_until = 0 WHERE id = ? IF lease_owner = ?",
           {upload_id, owner});
}

std::vector<std::string> CassandraMetaStore::DeleteExpiredUploads(int64_t now_ms) {
  std::vector<std::string> ids;
  for (const auto& [id, at] : DueExpiries("upload", now_ms)) {
    auto r = cql_.Run("SELECT expires_ms FROM " + T("uploads") + " WHERE id = ?", {id});
    if (!r.empty() && r.Int(0, 0) < now_ms) {
      cql_.Run("DELETE FROM " + T("uploads") + " WHERE id = ?", {id});
      ids.push_back(id);
    }
    UnindexExpiry("upload", id, at);
  }
  return ids;
}

// --- idempotency keys ---

bool CassandraMetaStore::ClaimIdempotencyKey(const std::string& user_id, const std::string& key,
                                             const std::string& fingerprint, int64_t now_ms,
                                             int64_t stale_before_ms, int64_t expired_before_ms) {
  const std::string table = T("idempotency_keys");
  auto r =
      cql_.Cas("INSERT INTO " + table +
                   " (user_id, idem_key, fingerprint, done, status, body, location, created_ms) "
                   "VALUES (?, ?, ?, false, 0, '', '', ?) IF NOT EXISTS",
               {user_id, key, fingerprint, now_ms});
  if (!r.Applied()) {
    const bool done = r.Bool(0, r.Column("done"));
    const int64_t created = r.Int(0, r.Column("created_ms"));
    const bool takeover = done ? created < expired_before_ms : created < stale_before_ms;
    if (!takeover) return false;
    if (!cql_.Cas("UPDATE " + table +
                      " SET fingerprint = ?, done = false, status = 0, body = '', location = '', "
                      "created_ms = ? WHERE user_id = ? AND idem_key = ? IF done = ? AND "
                      "created_ms = ?",
                  {fingerprint, now_ms, user_id, key, done, created})
             .Applied()) {
      return false;
    }
  }
  IndexExpiry("idempotency", user_id + "\n" + key, now_ms);
  return true;
}

std::optional<IdempotencyRecord> CassandraMetaStore::GetIdempotencyKey(const std::string& user_id,
                                                                       const std::string& key) {
  auto r = cql_.Run("SELECT fingerprint, done, status, body, location, created_ms FROM " +
                        T("idempotency_keys") + " WHERE user_id = ? AND idem_key = ?",
                    {user_id, key});
  if (r.empty()) return std::nullopt;
  return IdempotencyFromRow(r, 0);
}

void CassandraMetaStore::CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                                                const IdempotencyRecord& rec) {
  cql_.Cas("UPDATE " + T("idempotency_keys") +
               " SET fingerprint = ?, done = true, status = ?, body = ?, location = ? "
               "WHERE user_id = ? AND idem_key = ? IF EXISTS",
           {rec.fingerprint, int64_t{rec.status}, rec.body, rec.location, user_id, key});
}

void CassandraMetaStore::ReleaseIdempotencyKey(const std::string& user_id, const std::string& key) {
  cql_.Cas("DELETE FROM " + T("idempotency_keys") +
               " WHERE user_id = ? AND idem_key = ? IF done = false",
           {user_id, key});
}

size_t CassandraMetaStore::DeleteExpiredIdempotencyKeys(int64_t before_ms) {
  size_t n = 0;
  for (const auto& [id, at] : DueExpiries("idempotency", before_ms)) {
    const size_t nl = id.find('\n');
    if (nl != std::string::npos) {
      // Only the record this entry indexed: a newer claim of the key has its own entry.
      if (cql_.Cas("DELETE FROM " + T("idempotency_keys") +
                       " WHERE user_id = ? AND idem_key = ? IF created_ms = ?",
                   {id.substr(0, nl), id.substr(nl + 1), at})
              .Applied()) {
        ++n;
      }
    }
    UnindexExpiry("idempotency", id, at);
  }
  return n;
}

// --- secrets ---

std::string CassandraMetaStore::GetOrCreateSecret(const std::string& name,
                                                  const std::string& candidate) {
  auto r = cql_.Run("SELECT value FROM " + T("secrets") + " WHERE name = ?", {name});
  if (!r.empty()) return r.Text(0, 0);
  // Once per cluster, so every datacenter signs with the same key: SERIAL.
  auto c = cql_.Cas(
      "INSERT INTO " + T("secrets") + " (name, value, created_ms) VALUES (?, ?, ?) IF NOT EXISTS",
      {name, candidate, NowMs()}, CqlSerial::kGlobal);
  return c.Applied() ? candidate : c.Text(0, c.Column("value"));
}

// --- export and import (imgd migrate): in token order, the order Cassandra can page in ---

std::vector<MetaStore::UserExport> CassandraMetaStore::ExportUsers(const std::string& after_id,
                                                                   int limit) {
  const std::string select = "SELECT " + std::string(kUserColumns) + " FROM " + T("users");
  auto r = after_id.empty() ? cql_.Run(select + " LIMIT ?", {int64_t{limit}})
                            : cql_.Run(select + " WHERE token(id) > token(?) LIMIT ?",
                                       {after_id, int64_t{limit}});
  std::vector<UserExport> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back({ReadUser(r, i), {}});
  for (auto& u : out) {
    auto k =
        cql_.Run("SELECT key_hash FROM " + T("keys_by_user") + " WHERE user_id = ?", {u.user.id});
    for (size_t i = 0; i < k.size(); ++i) u.key_hashes.push_back(k.Text(i, 0));
  }
  return out;
}

void CassandraMetaStore::ImportUser(const UserExport& u) {
  if (u.user.is_admin) {
    // One admin: an import never makes a second one.
    auto claim = cql_.Cas("INSERT INTO " + T("admin") +
                              " (id, user_id, key_hash) VALUES ('admin', ?, ?) IF NOT EXISTS",
                          {u.user.id, u.key_hashes.empty() ? "" : u.key_hashes.front()});
    if (!claim.Applied() && claim.Text(0, claim.Column("user_id")) != u.user.id) {
      throw StoreError("cassandra: this database already has an admin");
    }
  }
  cql_.Run("INSERT INTO " + T("users") + " (" + kUserColumns + ") VALUES (?, ?, ?, ?, ?)",
           {u.user.id, u.user.name, u.user.email, u.user.is_admin, u.user.created_ms});
  for (const auto& k : u.key_hashes) {
    AddKey(u.user.id, k, u.user.created_ms);
  }
}

std::vector<Image> CassandraMetaStore::ExportImages(const std::string& after_id, int limit) {
  // Pending images are skipped, so a page is filled from as many reads as it takes: an empty
  // answer means the end.
  std::vector<Image> out;
  std::string after = after_id;
  while (static_cast<int>(out.size()) < limit) {
    const std::string select = "SELECT id FROM " + T("images");
    auto ids = after.empty() ? cql_.Run(select + " LIMIT ?", {int64_t{limit}})
                             : cql_.Run(select + " WHERE token(id) > token(?) LIMIT ?",
                                        {after, int64_t{limit}});
    if (ids.empty()) break;
    for (size_t i = 0; i < ids.size() && static_cast<int>(out.size()) < limit; ++i) {
      after = ids.Text(i, 0);
      auto im = GetImage(after);
      if (im && im->status == kStatusReady) out.push_back(std::move(*im));
    }
  }
  return out;
}

bool CassandraMetaStore::ImportImage(const Image& im) {
  auto existing = GetImage(im.id);
  if (existing && existing->status == kStatusReady) return false;
  // The reference first: bytes are never without one once the image row exists. Every
  // write is an upsert of the same values, so a copy that died here is redone whole.
  AddBlobReference(im);
  Image ready = im;
  ready.status = kStatusReady;
  ready.expires_ms = 0;
  WriteImage(ready);
  cql_.Cas("INSERT INTO " + T("dedup_slots") +
               " (user_id, sha256, image_id, state, claimed_ms) VALUES (?, ?, ?, 'ready', ?) "
               "IF NOT EXISTS",
           {im.user_id, im.sha256, im.id, NowMs()});
  return true;
}

void CassandraMetaStore::SetPlaceholder(const Image& im, const std::string& blurhash) {
  // IF EXISTS: a plain UPDATE is an upsert, and would bring back a row deleted meanwhile.
  cql_.Cas("UPDATE " + T("images") + " SET blurhash = ? WHERE id = ? AND created_ms = ? IF EXISTS",
           {blurhash, im.id, im.created_ms});
  cql_.Cas("UPDATE " + T("blobs") + " SET blurhash = ? WHERE sha256 = ? IF EXISTS",
           {blurhash, im.sha256});
}

}  // namespace imgd

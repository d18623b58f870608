#include "meta/sqlite_meta_store.h"

#include <sqlite3.h>

#include <stdexcept>
#include <unordered_map>

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "obs/store_metrics.h"

namespace imgd {
namespace {

// Schema versions, applied in order inside one write transaction each.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL
);
CREATE TABLE api_keys (
  key_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  created_ms INTEGER NOT NULL
);
CREATE INDEX api_keys_by_user ON api_keys(user_id);
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  refcount INTEGER NOT NULL CHECK (refcount >= 0),
  created_ms INTEGER NOT NULL
);
CREATE TABLE images (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  modified_by TEXT NOT NULL,
  modified_ms INTEGER NOT NULL,
  format TEXT NOT NULL,
  size INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  sha256 TEXT,
  status TEXT NOT NULL,
  expires_ms INTEGER NOT NULL DEFAULT 0,
  -- sha256 for a user's first record of some bytes, NULL for extra ones (onDuplicate=new):
  -- the unique index makes concurrent identical uploads collapse into one record.
  dedup_key TEXT
);
CREATE UNIQUE INDEX images_dedup ON images(user_id, dedup_key);
CREATE INDEX images_by_user ON images(user_id, id);
CREATE INDEX images_by_user_sha ON images(user_id, sha256);
)sql",
    R"sql(
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  length INTEGER NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  policy TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  image_id TEXT
);
CREATE INDEX uploads_by_expiry ON uploads(expires_ms);
CREATE INDEX images_pending_expiry ON images(status, expires_ms);
CREATE TABLE idempotency_keys (
  user_id TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  status INTEGER NOT NULL DEFAULT 0,
  body TEXT NOT NULL DEFAULT '',
  location TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_by_age ON idempotency_keys(created_ms);
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
)sql",
    R"sql(
ALTER TABLE uploads ADD COLUMN lease_owner TEXT;
ALTER TABLE uploads ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
)sql",
    R"sql(
ALTER TABLE images ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE uploads ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
)sql",
};

const char* kImageColumns =
    "id, user_id, name, description, created_by, created_ms, modified_by, modified_ms, "
    "format, size, width, height, sha256, status, expires_ms, visibility";

}  // namespace

// One connection and its cached prepared statements.
class SqliteMetaStore::Conn {
 public:
  explicit Conn(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw StoreError("sqlite open " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 10000);
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=FULL");
    Exec("PRAGMA foreign_keys=ON");
  }
  ~Conn() {
    for (auto& [sql, p] : stmts_) sqlite3_finalize(p.st);
    sqlite3_close(db_);
  }

  void Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      throw StoreError(std::string("sqlite: ") + msg);
    }
  }

  // A statement bound to this connection, reset on release; timed as one store call from
  // preparation to release (rows included).
  class Stmt {
   public:
    Stmt(sqlite3* db, sqlite3_stmt* st, const std::string& op)
        : db_(db), st_(st), timer_("sqlite", op) {}
    ~Stmt() {
      sqlite3_reset(st_);
      sqlite3_clear_bindings(st_);
    }
    Stmt& Bind(int i, const std::string& v) {
      Check(sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
      return *this;
    }
    Stmt& Bind(int i, int64_t v) {
      Check(sqlite3_bind_int64(st_, i, v));
      return *this;
    }
    Stmt& BindNull(int i) {
      Check(sqlite3_bind_null(st_, i));
      return *this;
    }
    // Returns true when a row is available.
    bool Step() {
      int rc = sqlite3_step(st_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      // A constraint violation is a decision the caller acts on (a duplicate), not a failure.
      if ((rc & 0xff) == SQLITE_CONSTRAINT) timer_.Expected();
      throw StoreError(std::string("sqlite step: ") + sqlite3_errmsg(db_));
    }
    std::string Text(int col) const {
      auto p = sqlite3_column_text(st_, col);
      return p ? std::string(reinterpret_cast<const char*>(p),
                             static_cast<size_t>(sqlite3_column_bytes(st_, col)))
               : std::string();
    }
    int64_t Int(int col) const { return sqlite3_column_int64(st_, col); }

   private:
    void Check(int rc) {
      if (rc != SQLITE_OK) throw StoreError(std::string("sqlite bind: ") + sqlite3_errmsg(db_));
    }
    sqlite3* db_;
    sqlite3_stmt* st_;
    StoreCallTimer timer_;
  };

  Stmt Prepare(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it == stmts_.end()) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) !=
          SQLITE_OK) {
        throw StoreError("sqlite prepare: " + std::string(sqlite3_errmsg(db_)));
      }
      it = stmts_.emplace(sql, Prepared{st, StatementOp(sql)}).first;
    }
    return Stmt(db_, it->second.st, it->second.op);
  }

  int ExtendedErrcode() const { return sqlite3_extended_errcode(db_); }

 private:
  sqlite3* db_ = nullptr;
  struct Prepared {
    sqlite3_stmt* st;
    std::string op;  // for the store-call metrics
  };
  std::unordered_map<std::string, Prepared> stmts_;
};

namespace {

using Conn = SqliteMetaStore::Conn;

// Rolls back unless committed.
class Txn {
 public:
  Txn(Conn& c, bool write) : c_(c) { c_.Exec(write ? "BEGIN IMMEDIATE" : "BEGIN"); }
  ~Txn() {
    if (!done_) {
      try {
        c_.Exec("ROLLBACK");
      } catch (...) {
      }
    }
  }
  void Commit() {
    c_.Exec("COMMIT");
    done_ = true;
  }

 private:
  Conn& c_;
  bool done_ = false;
};

Image ReadImage(const Conn::Stmt& s) {
  Image im;
  im.id = s.Text(0);
  im.user_id = s.Text(1);
  im.name = s.Text(2);
  im.description = s.Text(3);
  im.created_by = s.Text(4);
  im.created_ms = s.Int(5);
  im.modified_by = s.Text(6);
  im.modified_ms = s.Int(7);
  im.format = s.Text(8);
  im.size = static_cast<uint64_t>(s.Int(9));
  im.width = static_cast<int>(s.Int(10));
  im.height = static_cast<int>(s.Int(11));
  im.sha256 = s.Text(12);
  im.status = s.Text(13);
  im.expires_ms = s.Int(14);
  im.visibility = s.Text(15);
  return im;
}

User ReadUser(const Conn::Stmt& s) {
  User u;
  u.id = s.Text(0);
  u.name = s.Text(1);
  u.email = s.Text(2);
  u.is_admin = s.Int(3) != 0;
  u.created_ms = s.Int(4);
  return u;
}

std::optional<Image> SelectImage(Conn& c, const std::string& id) {
  auto s = c.Prepare(std::string("SELECT ") + kImageColumns + " FROM images WHERE id = ?");
  s.Bind(1, id);
  if (!s.Step()) return std::nullopt;
  return ReadImage(s);
}

}  // namespace

// Borrows a pooled connection for one call.
class SqliteMetaStore::Lease {
 public:
  explicit Lease(SqliteMetaStore& store) : store_(store), conn_(store.Acquire()) {}
  ~Lease() { store_.Release(conn_); }
  Conn& operator*() { return *conn_; }
  Conn* operator->() { return conn_; }

 private:
  SqliteMetaStore& store_;
  Conn* conn_;
};

SqliteMetaStore::SqliteMetaStore(std::string path, int pool_size) : path_(std::move(path)) {
  for (int i = 0; i < pool_size; ++i) {
    all_.push_back(std::make_unique<Conn>(path_));
    idle_.push_back(all_.back().get());
  }
}

SqliteMetaStore::~SqliteMetaStore() = default;

SqliteMetaStore::Conn* SqliteMetaStore::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty(); });
  Conn* c = idle_.back();
  idle_.pop_back();
  return c;
}

void SqliteMetaStore::Release(Conn* c) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(c);
  }
  cv_.notify_one();
}

void SqliteMetaStore::Migrate() {
  Lease c(*this);
  Txn txn(*c, true);  // the write lock makes concurrent migrators take turns
  c->Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  int64_t version = 0;
  {
    auto s = c->Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (s.Step()) version = s.Int(0);
  }
  const int64_t target = static_cast<int64_t>(std::size(kMigrations));
  for (int64_t v = version; v < target; ++v) {
    c->Exec(kMigrations[v]);
    c->Prepare("INSERT INTO schema_version(version) VALUES (?)").Bind(1, v + 1).Step();
  }
  txn.Commit();
}

void SqliteMetaStore::Ping() {
  Lease c(*this);
  c->Prepare("SELECT 1").Step();
}

void SqliteMetaStore::CreateUser(const User& user, const std::string& key_hash) {
  Lease c(*this);
  Txn txn(*c, true);
  c->Prepare("INSERT INTO users(id, name, email, is_admin, created_ms) VALUES (?,?,?,?,?)")
      .Bind(1, user.id)
      .Bind(2, user.name)
      .Bind(3, user.email)
      .Bind(4, int64_t{user.is_admin ? 1 : 0})
      .Bind(5, user.created_ms)
      .Step();
  c->Prepare("INSERT INTO api_keys(key_hash, user_id, created_ms) VALUES (?,?,?)")
      .Bind(1, key_hash)
      .Bind(2, user.id)
      .Bind(3, user.created_ms)
      .Step();
  txn.Commit();
}

std::optional<User> SqliteMetaStore::FindUserByKeyHash(const std::string& key_hash) {
  Lease c(*this);
  auto s = c->Prepare(
      "SELECT u.id, u.name, u.email, u.is_admin, u.created_ms FROM api_keys k "
      "JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?");
  s.Bind(1, key_hash);
  if (!s.Step()) return std::nullopt;
  return ReadUser(s);
}

std::optional<User> SqliteMetaStore::GetUser(const std::string& user_id) {
  Lease c(*this);
  auto s = c->Prepare("SELECT id, name, email, is_admin, created_ms FROM users WHERE id = ?");
  s.Bind(1, user_id);
  if (!s.Step()) return std::nullopt;
  return ReadUser(s);
}

void SqliteMetaStore::SetAdminKey(const std::string& key_hash) {
  Lease c(*this);
  Txn txn(*c, true);
  std::string admin_id;
  {
    auto s = c->Prepare("SELECT id FROM users WHERE is_admin = 1 ORDER BY created_ms LIMIT 1");
    if (s.Step()) admin_id = s.Text(0);
  }
  int64_t now = NowMs();
  if (admin_id.empty()) {
    admin_id = NewUuidV7();
    c->Prepare("INSERT INTO users(id, name, email, is_admin, created_ms) VALUES (?,?,?,1,?)")
        .Bind(1, admin_id)
        .Bind(2, std::string("admin"))
        .Bind(3, std::string(""))
        .Bind(4, now)
        .Step();
  }
  c->Prepare("DELETE FROM api_keys WHERE user_id = ?").Bind(1, admin_id).Step();
  c->Prepare("INSERT INTO api_keys(key_hash, user_id, created_ms) VALUES (?,?,?)")
      .Bind(1, key_hash)
      .Bind(2, admin_id)
      .Bind(3, now)
      .Step();
  txn.Commit();
}

bool SqliteMetaStore::HasAdmin() {
  Lease c(*this);
  return c->Prepare("SELECT 1 FROM users WHERE is_admin = 1 LIMIT 1").Step();
}

namespace {

void InsertImage(Conn& c, const Image& im, bool dedup_slot) {
  auto s = c.Prepare(std::string("INSERT INTO images(") + kImageColumns +
                     ", dedup_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.Bind(1, im.id)
      .Bind(2, im.user_id)
      .Bind(3, im.name)
      .Bind(4, im.description)
      .Bind(5, im.created_by)
      .Bind(6, im.created_ms)
      .Bind(7, im.modified_by)
      .Bind(8, im.modified_ms)
      .Bind(9, im.format)
      .Bind(10, static_cast<int64_t>(im.size))
      .Bind(11, int64_t{im.width})
      .Bind(12, int64_t{im.height})
      .Bind(13, im.sha256)
      .Bind(14, im.status)
      .Bind(15, im.expires_ms)
      .Bind(16, im.visibility);
  if (dedup_slot) {
    s.Bind(17, im.sha256);
  } else {
    s.BindNull(17);
  }
  s.Step();
}

// Adds one reference to im's blob row (creating it from im's size and dimensions) and
// returns the count after it.
int64_t AddBlobReference(Conn& c, const Image& im, int64_t now_ms) {
  c.Prepare(
       "INSERT INTO blobs(sha256, size, width, height, refcount, created_ms) "
       "VALUES (?,?,?,?,1,?) ON CONFLICT(sha256) DO UPDATE SET refcount = refcount + 1")
      .Bind(1, im.sha256)
      .Bind(2, static_cast<int64_t>(im.size))
      .Bind(3, int64_t{im.width})
      .Bind(4, int64_t{im.height})
      .Bind(5, now_ms)
      .Step();
  auto s = c.Prepare("SELECT refcount FROM blobs WHERE sha256 = ?");
  s.Bind(1, im.sha256);
  return s.Step() ? s.Int(0) : 0;
}

// The duplicate rule shared by direct uploads and completed pending uploads, inside the
// caller's write transaction. `ready` is the image as it will be stored when a record is
// written; `pending_id`, when set, is the pending record that becomes it (or is dropped on
// a returned duplicate). Returns nullopt when that pending record no longer exists.
std::optional<MetaStore::CommitResult> CommitReady(Conn& c, Image ready, DuplicatePolicy policy,
                                                   const std::string* pending_id,
                                                   const MetaStore::EnsureBytes& ensure_bytes) {
  MetaStore::CommitResult result;
  std::optional<Image> existing;
  {
    auto s = c.Prepare(std::string("SELECT ") + kImageColumns +
                       " FROM images WHERE user_id = ? AND sha256 = ? AND status = 'ready' "
                       "ORDER BY id LIMIT 1");
    s.Bind(1, ready.user_id).Bind(2, ready.sha256);
    if (s.Step()) existing = ReadImage(s);
  }
  if (pending_id) {
    auto s = c.Prepare("SELECT 1 FROM images WHERE id = ? AND status = 'pending'");
    s.Bind(1, *pending_id);
    if (!s.Step()) return std::nullopt;
  }
  if (existing && policy != DuplicatePolicy::kNew) {
    if (pending_id) c.Prepare("DELETE FROM images WHERE id = ?").Bind(1, *pending_id).Step();
    result.image = *existing;
    result.duplicate = true;
    return result;
  }
  ready.status = kStatusReady;
  ready.expires_ms = 0;
  if (pending_id) {
    auto s = c.Prepare(
        "UPDATE images SET size = ?, width = ?, height = ?, sha256 = ?, status = 'ready', "
        "expires_ms = 0, dedup_key = ?, modified_ms = ? WHERE id = ?");
    s.Bind(1, static_cast<int64_t>(ready.size))
        .Bind(2, int64_t{ready.width})
        .Bind(3, int64_t{ready.height})
        .Bind(4, ready.sha256)
        .Bind(6, ready.modified_ms)
        .Bind(7, *pending_id);
    if (existing) {
      s.BindNull(5);
    } else {
      s.Bind(5, ready.sha256);
    }
    s.Step();
    ready = *SelectImage(c, *pending_id);
  } else {
    InsertImage(c, ready, !existing);
  }
  result.blob_refcount = AddBlobReference(c, ready, ready.modified_ms);
  // The blob row is locked (written) by this transaction and holds our reference: a
  // remover on any node now waits, or has finished and taken the row with it (then the
  // reference above created it afresh). Bytes verified here stay.
  if (ensure_bytes) ensure_bytes();
  result.image = std::move(ready);
  result.duplicate = existing.has_value();
  result.created = true;
  return result;
}

}  // namespace

MetaStore::CommitResult SqliteMetaStore::CommitImage(const Image& cand, DuplicatePolicy policy,
                                                     const EnsureBytes& ensure_bytes) {
  Lease c(*this);
  Txn txn(*c, true);
  auto r = CommitReady(*c, cand, policy, nullptr, ensure_bytes);
  txn.Commit();
  return *r;
}

void SqliteMetaStore::CreatePendingImage(const Image& image) {
  Lease c(*this);
  Txn txn(*c, true);
  Image pending = image;
  pending.status = kStatusPending;
  pending.sha256.clear();
  InsertImage(*c, pending, false);
  txn.Commit();
}

std::optional<MetaStore::CommitResult> SqliteMetaStore::CompletePendingImage(
    const std::string& image_id, const BlobInfo& blob, int64_t now_ms, DuplicatePolicy policy,
    const EnsureBytes& ensure_bytes) {
  Lease c(*this);
  Txn txn(*c, true);
  auto pending = SelectImage(*c, image_id);
  if (!pending || pending->status != kStatusPending || pending->expires_ms < now_ms) {
    return std::nullopt;
  }
  Image ready = *pending;
  ready.sha256 = blob.sha256;
  ready.size = blob.size;
  ready.width = blob.width;
  ready.height = blob.height;
  ready.modified_ms = now_ms;
  auto r = CommitReady(*c, ready, policy, &image_id, ensure_bytes);
  txn.Commit();
  return r;
}

std::vector<std::string> SqliteMetaStore::DeleteExpiredPending(int64_t now_ms) {
  Lease c(*this);
  Txn txn(*c, true);
  std::vector<std::string> ids;
  {
    auto s =
        c->Prepare("DELETE FROM images WHERE status = 'pending' AND expires_ms < ? RETURNING id");
    s.Bind(1, now_ms);
    while (s.Step()) ids.push_back(s.Text(0));
  }
  txn.Commit();
  return ids;
}

void SqliteMetaStore::CreateUpload(const ResumableUpload& u) {
  Lease c(*this);
  c->Prepare(
       "INSERT INTO uploads(id, user_id, length, name, description, policy, created_ms, "
       "expires_ms, visibility) VALUES (?,?,?,?,?,?,?,?,?)")
      .Bind(1, u.id)
      .Bind(2, u.user_id)
      .Bind(3, static_cast<int64_t>(u.length))
      .Bind(4, u.name)
      .Bind(5, u.description)
      .Bind(6, u.policy)
      .Bind(7, u.created_ms)
      .Bind(8, u.expires_ms)
      .Bind(9, u.visibility)
      .Step();
}

std::optional<ResumableUpload> SqliteMetaStore::GetUpload(const std::string& upload_id) {
  Lease c(*this);
  auto s = c->Prepare(
      "SELECT id, user_id, length, name, description, policy, created_ms, expires_ms, "
      "COALESCE(image_id, ''), visibility FROM uploads WHERE id = ?");
  s.Bind(1, upload_id);
  if (!s.Step()) return std::nullopt;
  ResumableUpload u;
  u.id = s.Text(0);
  u.user_id = s.Text(1);
  u.length = static_cast<uint64_t>(s.Int(2));
  u.name = s.Text(3);
  u.description = s.Text(4);
  u.policy = s.Text(5);
  u.created_ms = s.Int(6);
  u.expires_ms = s.Int(7);
  u.image_id = s.Text(8);
  u.visibility = s.Text(9);
  return u;
}

std::optional<MetaStore::CommitResult> SqliteMetaStore::CompleteUpload(
    const std::string& upload_id, const Image& candidate, DuplicatePolicy policy,
    const EnsureBytes& ensure_bytes) {
  Lease c(*this);
  Txn txn(*c, true);
  {
    auto s = c->Prepare("SELECT image_id FROM uploads WHERE id = ?");
    s.Bind(1, upload_id);
    if (!s.Step() || !s.Text(0).empty()) return std::nullopt;
  }
  auto result = CommitReady(*c, candidate, policy, nullptr, ensure_bytes);
  c->Prepare("UPDATE uploads SET image_id = ? WHERE id = ?")
      .Bind(1, result->image.id)
      .Bind(2, upload_id)
      .Step();
  txn.Commit();
  return result;
}

bool SqliteMetaStore::DeleteUpload(const std::string& upload_id) {
  Lease c(*this);
  auto s = c->Prepare("DELETE FROM uploads WHERE id = ? RETURNING id");
  s.Bind(1, upload_id);
  return s.Step();
}

bool SqliteMetaStore::LeaseUpload(const std::string& upload_id, const std::string& owner,
                                  int64_t now_ms, int64_t until_ms) {
  Lease c(*this);
  auto s = c->Prepare(
      "UPDATE uploads SET lease_owner = ?, lease_until = ? WHERE id = ? AND "
      "(lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) RETURNING 1");
  s.Bind(1, owner).Bind(2, until_ms).Bind(3, upload_id).Bind(4, owner).Bind(5, now_ms);
  return s.Step();
}

void SqliteMetaStore::ReleaseUploadLease(const std::string& upload_id, const std::string& owner) {
  Lease c(*this);
  c->Prepare(
       "UPDATE uploads SET lease_owner = NULL, lease_until = 0 WHERE id = ? AND "
       "lease_owner = ?")
      .Bind(1, upload_id)
      .Bind(2, owner)
      .Step();
}

std::vector<std::string> SqliteMetaStore::DeleteExpiredUploads(int64_t now_ms) {
  Lease c(*this);
  std::vector<std::string> ids;
  auto s = c->Prepare("DELETE FROM uploads WHERE expires_ms < ? RETURNING id");
  s.Bind(1, now_ms);
  while (s.Step()) ids.push_back(s.Text(0));
  return ids;
}

bool SqliteMetaStore::ClaimIdempotencyKey(const std::string& user_id, const std::string& key,
                                          const std::string& fingerprint, int64_t now_ms,
                                          int64_t stale_before_ms, int64_t expired_before_ms) {
  Lease c(*this);
  auto s = c->Prepare(
      "INSERT INTO idempotency_keys(user_id, key, fingerprint, done, created_ms) "
      "VALUES (?,?,?,0,?) ON CONFLICT(user_id, key) DO UPDATE SET "
      "fingerprint = excluded.fingerprint, done = 0, status = 0, body = '', location = '', "
      "created_ms = excluded.created_ms "
      "WHERE (done = 0 AND created_ms < ?) OR (done = 1 AND created_ms < ?) RETURNING 1");
  s.Bind(1, user_id).Bind(2, key).Bind(3, fingerprint).Bind(4, now_ms);
  s.Bind(5, stale_before_ms).Bind(6, expired_before_ms);
  return s.Step();
}

std::optional<IdempotencyRecord> SqliteMetaStore::GetIdempotencyKey(const std::string& user_id,
                                                                    const std::string& key) {
  Lease c(*this);
  auto s = c->Prepare(
      "SELECT fingerprint, done, status, body, location, created_ms FROM idempotency_keys "
      "WHERE user_id = ? AND key = ?");
  s.Bind(1, user_id).Bind(2, key);
  if (!s.Step()) return std::nullopt;
  IdempotencyRecord r;
  r.fingerprint = s.Text(0);
  r.done = s.Int(1) != 0;
  r.status = static_cast<int>(s.Int(2));
  r.body = s.Text(3);
  r.location = s.Text(4);
  r.created_ms = s.Int(5);
  return r;
}

void SqliteMetaStore::CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                                             const IdempotencyRecord& r) {
  Lease c(*this);
  c->Prepare(
       "UPDATE idempotency_keys SET fingerprint = ?, done = 1, status = ?, body = ?, "
       "location = ? WHERE user_id = ? AND key = ?")
      .Bind(1, r.fingerprint)
      .Bind(2, int64_t{r.status})
      .Bind(3, r.body)
      .Bind(4, r.location)
      .Bind(5, user_id)
      .Bind(6, key)
      .Step();
}

void SqliteMetaStore::ReleaseIdempotencyKey(const std::string& user_id, const std::string& key) {
  Lease c(*this);
  c->Prepare("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND done = 0")
      .Bind(1, user_id)
      .Bind(2, key)
      .Step();
}

size_t SqliteMetaStore::DeleteExpiredIdempotencyKeys(int64_t before_ms) {
  Lease c(*this);
  auto s = c->Prepare("DELETE FROM idempotency_keys WHERE created_ms < ? RETURNING 1");
  s.Bind(1, before_ms);
  size_t n = 0;
  while (s.Step()) ++n;
  return n;
}

std::string SqliteMetaStore::GetOrCreateSecret(const std::string& name,
                                               const std::string& candidate) {
  Lease c(*this);
  c->Prepare("INSERT INTO secrets(name, value, created_ms) VALUES (?,?,?) ON CONFLICT DO NOTHING")
      .Bind(1, name)
      .Bind(2, candidate)
      .Bind(3, NowMs())
      .Step();
  auto s = c->Prepare("SELECT value FROM secrets WHERE name = ?");
  s.Bind(1, name);
  if (!s.Step()) throw StoreError("secret " + name + " vanished");
  return s.Text(0);
}

std::vector<MetaStore::UserExport> SqliteMetaStore::ExportUsers(const std::string& after_id,
                                                                int limit) {
  Lease c(*this);
  std::vector<UserExport> out;
  {
    auto s = c->Prepare(
        "SELECT id, name, email, is_admin, created_ms FROM users WHERE id > ? ORDER BY id "
        "LIMIT ?");
    s.Bind(1, after_id).Bind(2, int64_t{limit});
    while (s.Step()) out.push_back({ReadUser(s), {}});
  }
  for (auto& u : out) {
    auto s = c->Prepare("SELECT key_hash FROM api_keys WHERE user_id = ? ORDER BY key_hash");
    s.Bind(1, u.user.id);
    while (s.Step()) u.key_hashes.push_back(s.Text(0));
  }
  return out;
}

void SqliteMetaStore::ImportUser(const UserExport& u) {
  Lease c(*this);
  Txn txn(*c, true);
  c->Prepare(
       "INSERT OR IGNORE INTO users(id, name, email, is_admin, created_ms) VALUES (?,?,?,?,?)")
      .Bind(1, u.user.id)
      .Bind(2, u.user.name)
      .Bind(3, u.user.email)
      .Bind(4, int64_t{u.user.is_admin ? 1 : 0})
      .Bind(5, u.user.created_ms)
      .Step();
  for (const auto& k : u.key_hashes) {
    c->Prepare("INSERT OR IGNORE INTO api_keys(key_hash, user_id, created_ms) VALUES (?,?,?)")
        .Bind(1, k)
        .Bind(2, u.user.id)
        .Bind(3, u.user.created_ms)
        .Step();
  }
  txn.Commit();
}

std::vector<Image> SqliteMetaStore::ExportImages(const std::string& after_id, int limit) {
  Lease c(*this);
  std::vector<Image> out;
  auto s = c->Prepare(std::string("SELECT ") + kImageColumns +
                      " FROM images WHERE id > ? AND status = 'ready' ORDER BY id LIMIT ?");
  s.Bind(1, after_id).Bind(2, int64_t{limit});
  while (s.Step()) out.push_back(ReadImage(s));
  return out;
}

bool SqliteMetaStore::ImportImage(const Image& im) {
  Lease c(*this);
  Txn txn(*c, true);
  if (SelectImage(*c, im.id)) return false;
  bool first;
  {
    auto s = c->Prepare("SELECT 1 FROM images WHERE user_id = ? AND dedup_key = ?");
    s.Bind(1, im.user_id).Bind(2, im.sha256);
    first = !s.Step();
  }
  InsertImage(*c, im, first);
  AddBlobReference(*c, im, im.created_ms);
  txn.Commit();
  return true;
}

std::optional<Image> SqliteMetaStore::GetImage(const std::string& image_id) {
  Lease c(*this);
  return SelectImage(*c, image_id);
}

std::vector<Image> SqliteMetaStore::ListImages(const std::string& user_id, int limit,
                                               const std::string& after_id) {
  Lease c(*this);
  std::vector<Image> out;
  auto s = c->Prepare(std::string("SELECT ") + kImageColumns +
                      " FROM images WHERE user_id = ? AND (? = '' OR id < ?) "
                      "ORDER BY id DESC LIMIT ?");
  s.Bind(1, user_id).Bind(2, after_id).Bind(3, after_id).Bind(4, int64_t{limit});
  while (s.Step()) out.push_back(ReadImage(s));
  return out;
}

std::optional<Image> SqliteMetaStore::UpdateImage(const std::string& image_id,
                                                  const ImageChanges& changes,
                                                  const std::string& modified_by,
                                                  int64_t modified_ms) {
  Lease c(*this);
  Txn txn(*c, true);
  auto s = c->Prepare(
      "UPDATE images SET name = COALESCE(?, name), description = COALESCE(?, description), "
      "visibility = COALESCE(?, visibility), modified_by = ?, modified_ms = ? WHERE id = ?");
  int i = 1;
  for (const auto* field : {&changes.name, &changes.description, &changes.visibility}) {
    if (*field) {
      s.Bind(i++, **field);
    } else {
      s.BindNull(i++);
    }
  }
  s.Bind(4, modified_by).Bind(5, modified_ms).Bind(6, image_id).Step();
  auto image = SelectImage(*c, image_id);
  txn.Commit();
  return image;
}

MetaStore::DeleteResult SqliteMetaStore::DeleteImage(const std::string& image_id) {
  Lease c(*this);
  Txn txn(*c, true);
  DeleteResult r;
  auto image = SelectImage(*c, image_id);
  if (!image) return r;
  r.found = true;
  r.sha256 = image->sha256;
  c->Prepare("DELETE FROM images WHERE id = ?").Bind(1, image_id).Step();
  if (!r.sha256.empty()) {
    int64_t left = -1;
    {
      auto s = c->Prepare(
          "UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = ? RETURNING refcount");
      s.Bind(1, r.sha256);
      if (s.Step()) left = s.Int(0);
    }
    r.blob_released = left == 0;
  }
  txn.Commit();
  return r;
}

std::optional<BlobInfo> SqliteMetaStore::GetBlob(const std::string& sha256) {
  Lease c(*this);
  auto s = c->Prepare("SELECT sha256, size, width, height, refcount FROM blobs WHERE sha256 = ?");
  s.Bind(1, sha256);
  if (!s.Step()) return std::nullopt;
  BlobInfo b;
  b.sha256 = s.Text(0);
  b.size = static_cast<uint64_t>(s.Int(1));
  b.width = static_cast<int>(s.Int(2));
  b.height = static_cast<int>(s.Int(3));
  b.refcount = s.Int(4);
  return b;
}

bool SqliteMetaStore::BlobReferenced(const std::string& sha256) {
  Lease c(*this);
  auto s = c->Prepare("SELECT 1 FROM blobs WHERE sha256 = ? AND refcount > 0");
  s.Bind(1, sha256);
  return s.Step();
}

std::vector<std::string> SqliteMetaStore::UnreferencedBlobs(int limit) {
  Lease c(*this);
  std::vector<std::string> out;
  auto s = c->Prepare("SELECT sha256 FROM blobs WHERE refcount <= 0 LIMIT ?");
  s.Bind(1, int64_t{limit});
  while (s.Step()) out.push_back(s.Text(0));
  return out;
}

void SqliteMetaStore::TrackUnrecordedBlob(const std::string& sha256, uint64_t size) {
  Lease c(*this);
  c->Prepare(
       "INSERT INTO blobs(sha256, size, width, height, refcount, created_ms) "
       "VALUES (?,?,0,0,0,?) ON CONFLICT (sha256) DO NOTHING")
      .Bind(1, sha256)
      .Bind(2, static_cast<int64_t>(size))
      .Bind(3, NowMs())
      .Step();
}

bool SqliteMetaStore::RemoveBlobIfUnreferenced(const std::string& sha256,
                                               const std::function<void()>& remove_bytes) {
  Lease c(*this);
  Txn txn(*c, true);  // the database write lock: commits of these bytes wait
  {
    auto s = c->Prepare("SELECT refcount FROM blobs WHERE sha256 = ?");
    s.Bind(1, sha256);
    if (!s.Step() || s.Int(0) > 0) return false;
  }
  remove_bytes();
  c->Prepare("DELETE FROM blobs WHERE sha256 = ? AND refcount <= 0").Bind(1, sha256).Step();
  txn.Commit();
  return true;
}

}  // namespace imgd

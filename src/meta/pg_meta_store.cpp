#include "meta/pg_meta_store.h"

#include <libpq-fe.h>

#include <functional>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "obs/store_metrics.h"

namespace imgd {
namespace {

// Schema versions, applied in order under one transaction and an advisory lock.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL
);
-- At most one admin, even when several nodes create it at once.
CREATE UNIQUE INDEX users_one_admin ON users(is_admin) WHERE is_admin = 1;
CREATE TABLE api_keys (
  key_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  created_ms BIGINT NOT NULL
);
CREATE INDEX api_keys_by_user ON api_keys(user_id);
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  refcount BIGINT NOT NULL CHECK (refcount >= 0),
  created_ms BIGINT NOT NULL
);
CREATE TABLE images (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  modified_by TEXT NOT NULL,
  modified_ms BIGINT NOT NULL,
  format TEXT NOT NULL,
  size BIGINT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  sha256 TEXT,
  status TEXT NOT NULL,
  expires_ms BIGINT NOT NULL DEFAULT 0,
  -- sha256 for a user's first record of some bytes, NULL otherwise: concurrent identical
  -- uploads collide on this unique index and the loser retries as a duplicate.
  dedup_key TEXT
);
CREATE UNIQUE INDEX images_dedup ON images(user_id, dedup_key);
CREATE INDEX images_by_user ON images(user_id, id);
CREATE INDEX images_by_user_sha ON images(user_id, sha256);
CREATE INDEX images_pending_expiry ON images(status, expires_ms);
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  length BIGINT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  policy TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  image_id TEXT
);
CREATE INDEX uploads_by_expiry ON uploads(expires_ms);
CREATE TABLE idempotency_keys (
  user_id TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  status INTEGER NOT NULL DEFAULT 0,
  body TEXT NOT NULL DEFAULT '',
  location TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_by_age ON idempotency_keys(created_ms);
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
)sql",
    R"sql(
ALTER TABLE uploads ADD COLUMN lease_owner TEXT;
ALTER TABLE uploads ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
)sql",
    R"sql(
ALTER TABLE images ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE uploads ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
)sql",
};

// Any key: imgd's schema migrations take turns on it.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7386419201)";

const char* kImageColumns =
    "id, user_id, name, description, created_by, created_ms, modified_by, modified_ms, "
    "format, size, width, height, COALESCE(sha256, ''), status, expires_ms, visibility";

// A transaction lost a race it can win by running again.
struct Retry : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using Param = std::optional<std::string>;
Param P(const std::string& s) { return s; }
Param P(int64_t v) { return std::to_string(v); }
const Param kNull = std::nullopt;

}  // namespace

class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  PgResult(PgResult&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  ~PgResult() { PQclear(r_); }
  int rows() const { return PQntuples(r_); }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  int64_t Int(int row, int col) const { return std::stoll(PQgetvalue(r_, row, col)); }
  const PGresult* raw() const { return r_; }

 private:
  PGresult* r_;
};

class PgMetaStore::Conn {
 public:
  Conn(const std::string& conninfo, CircuitBreaker& breaker)
      : conninfo_(conninfo), breaker_(breaker) {}
  ~Conn() {
    if (c_) PQfinish(c_);
  }

  // Opens (or reopens after a failure) the connection.
  void Ensure() {
    if (c_ && PQstatus(c_) == CONNECTION_OK) return;
    if (c_) PQfinish(c_);
    prepared_.clear();
    c_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(c_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(c_);
      PQfinish(c_);
      c_ = nullptr;
      throw StoreError("postgres connect: " + Trim(msg));
    }
    // Server notices (e.g. "relation already exists, skipping") are not errors.
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
  }

  // Runs one statement (prepared once per connection) with text parameters.
  PgResult Exec(const std::string& sql, const std::vector<Param>& params = {}) {
    auto& op = ops_[sql];
    if (op.empty()) op = StatementOp(sql);
    StoreCallTimer timer("postgres", op);
    try {
      return ExecTimed(sql, params, timer);
    } catch (const Retry&) {
      timer.Expected();  // a lost race, rerun by the caller: not a store failure
      throw;
    }
  }

  PgResult ExecTimed(const std::string& sql, const std::vector<Param>& params,
                     const StoreCallTimer& timer) {
    breaker_.Before();
    try {
      Ensure();
    } catch (const StoreError&) {
      breaker_.Failure();
      throw;
    }
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    if (timer.trace() && timer.trace()->sampled) {
      // A sampled request's statements carry its trace as a trailing sqlcommenter comment,
      // for the server's logs and tracing; the text differs per call, so these run unnamed
      // (parsed each time) instead of prepared.
      const std::string traced = sql + " /*traceparent='" + timer.Traceparent() + "'*/";
      PgResult r(PQexecParams(c_, traced.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0));
      Check(r, sql);
      return r;
    }
    auto name = "s" + std::to_string(std::hash<std::string>{}(sql));
    if (!prepared_.count(name)) {
      PgResult r(
          PQprepare(c_, name.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr));
      Check(r, sql);
      prepared_.insert(name);
    }
    PgResult r(PQexecPrepared(c_, name.c_str(), static_cast<int>(values.size()), values.data(),
                              nullptr, nullptr, 0));
    Check(r, sql);
    return r;
  }

  // Runs SQL text as is (several statements allowed, no parameters).
  void ExecScript(const std::string& sql) {
    breaker_.Before();
    try {
      Ensure();
    } catch (const StoreError&) {
      breaker_.Failure();
      throw;
    }
    PgResult r(PQexec(c_, sql.c_str()));
    Check(r, sql);
  }

  // After a failed transaction: roll back if the connection is still usable.
  void Abandon() {
    if (c_ && PQstatus(c_) == CONNECTION_OK) {
      PGresult* r = PQexec(c_, "ROLLBACK");
      PQclear(r);
    }
  }

 private:
  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  void Check(const PgResult& r, const std::string& sql) {
    const PGresult* raw = r.raw();
    ExecStatusType st = PQresultStatus(raw);
    if (PQstatus(c_) != CONNECTION_OK) {
      // The server went away mid-call: a store failure, not an SQL error.
      breaker_.Failure();
      throw StoreError("postgres: connection lost: " + Trim(PQerrorMessage(c_)));
    }
    breaker_.Success();
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
    std::string code = state ? state : "";
    std::string msg = Trim(PQerrorMessage(c_));
    // 23505 unique violation, 40001 serialization failure, 40P01 deadlock.
    if (code == "23505" || code == "40001" || code == "40P01") throw Retry(msg);
    throw StoreError("postgres (" + code + "): " + msg + " [" + sql.substr(0, 60) + "]");
  }

  std::string conninfo_;
  CircuitBreaker& breaker_;
  PGconn* c_ = nullptr;
  std::unordered_set<std::string> prepared_;
  std::unordered_map<std::string, std::string> ops_;  // statement → metrics op name
};

namespace {

using Conn = PgMetaStore::Conn;

Image ReadImage(const PgResult& r, int row) {
  Image im;
  im.id = r.Text(row, 0);
  im.user_id = r.Text(row, 1);
  im.name = r.Text(row, 2);
  im.description = r.Text(row, 3);
  im.created_by = r.Text(row, 4);
  im.created_ms = r.Int(row, 5);
  im.modified_by = r.Text(row, 6);
  im.modified_ms = r.Int(row, 7);
  im.format = r.Text(row, 8);
  im.size = static_cast<uint64_t>(r.Int(row, 9));
  im.width = static_cast<int>(r.Int(row, 10));
  im.height = static_cast<int>(r.Int(row, 11));
  im.sha256 = r.Text(row, 12);
  im.status = r.Text(row, 13);
  im.expires_ms = r.Int(row, 14);
  im.visibility = r.Text(row, 15);
  return im;
}

User ReadUser(const PgResult& r, int row = 0) {
  User u;
  u.id = r.Text(row, 0);
  u.name = r.Text(row, 1);
  u.email = r.Text(row, 2);
  u.is_admin = r.Int(row, 3) != 0;
  u.created_ms = r.Int(row, 4);
  return u;
}

std::optional<Image> SelectImage(Conn& c, const std::string& id, bool for_update = false) {
  auto r = c.Exec(std::string("SELECT ") + kImageColumns + " FROM images WHERE id = $1" +
                      (for_update ? " FOR UPDATE" : ""),
                  {P(id)});
  if (r.rows() == 0) return std::nullopt;
  return ReadImage(r, 0);
}

void InsertImage(Conn& c, const Image& im, bool dedup_slot) {
  c.Exec(
      std::string("INSERT INTO images(") +
          "id, user_id, name, description, created_by, created_ms, modified_by, modified_ms, "
          "format, size, width, height, sha256, status, expires_ms, dedup_key, visibility) VALUES "
          "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
      {P(im.id), P(im.user_id), P(im.name), P(im.description), P(im.created_by), P(im.created_ms),
       P(im.modified_by), P(im.modified_ms), P(im.format), P(static_cast<int64_t>(im.size)),
       P(int64_t{im.width}), P(int64_t{im.height}), im.sha256.empty() ? kNull : P(im.sha256),
       P(im.status), P(im.expires_ms), dedup_slot ? P(im.sha256) : kNull, P(im.visibility)});
}

// Adds one reference to im's blob row (creating it from im's size and dimensions) and
// returns the count after it.
int64_t AddBlobReference(Conn& c, const Image& im, int64_t now_ms) {
  return c
      .Exec(
          "INSERT INTO blobs(sha256, size, width, height, refcount, created_ms) "
          "VALUES ($1,$2,$3,$4,1,$5) ON CONFLICT (sha256) DO UPDATE SET refcount = "
          "blobs.refcount + 1 RETURNING refcount",
          {P(im.sha256), P(static_cast<int64_t>(im.size)), P(int64_t{im.width}),
           P(int64_t{im.height}), P(now_ms)})
      .Int(0, 0);
}

// The duplicate rule shared by direct and pending uploads, inside the caller's transaction
// (see SqliteMetaStore's CommitReady; same semantics). A concurrent first record of the
// same bytes makes the insert/update fail on images_dedup: the transaction is retried and
// then sees it.
std::optional<MetaStore::CommitResult> CommitReady(Conn& c, Image ready, DuplicatePolicy policy,
                                                   const std::string* pending_id,
                                                   const MetaStore::EnsureBytes& ensure_bytes) {
  MetaStore::CommitResult result;
  std::optional<Image> existing;
  {
    auto r = c.Exec(std::string("SELECT ") + kImageColumns +
                        " FROM images WHERE user_id = $1 AND sha256 = $2 AND status = 'ready' "
                        "ORDER BY id LIMIT 1",
                    {P(ready.user_id), P(ready.sha256)});
    if (r.rows() > 0) existing = ReadImage(r, 0);
  }
  if (pending_id) {
    auto r = c.Exec("SELECT 1 FROM images WHERE id = $1 AND status = 'pending' FOR UPDATE",
                    {P(*pending_id)});
    if (r.rows() == 0) return std::nullopt;
  }
  if (existing && policy != DuplicatePolicy::kNew) {
    if (pending_id) c.Exec("DELETE FROM images WHERE id = $1", {P(*pending_id)});
    result.image = *existing;
    result.duplicate = true;
    return result;
  }
  ready.status = kStatusReady;
  ready.expires_ms = 0;
  if (pending_id) {
    c.Exec(
        "UPDATE images SET size = $1, width = $2, height = $3, sha256 = $4, status = 'ready', "
        "expires_ms = 0, dedup_key = $5, modified_ms = $6 WHERE id = $7",
        {P(static_cast<int64_t>(ready.size)), P(int64_t{ready.width}), P(int64_t{ready.height}),
         P(ready.sha256), existing ? kNull : P(ready.sha256), P(ready.modified_ms),
         P(*pending_id)});
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

class PgMetaStore::Lease {
 public:
  explicit Lease(PgMetaStore& store) : store_(store), conn_(store.Acquire()) {}
  ~Lease() { store_.Release(conn_); }
  Conn& operator*() { return *conn_; }
  Conn* operator->() { return conn_; }

 private:
  PgMetaStore& store_;
  Conn* conn_;
};

PgMetaStore::PgMetaStore(std::string conninfo, int pool_size) : conninfo_(std::move(conninfo)) {
  for (int i = 0; i < pool_size; ++i) {
    all_.push_back(std::make_unique<Conn>(conninfo_, breaker_));
    idle_.push_back(all_.back().get());
  }
}

PgMetaStore::~PgMetaStore() = default;

PgMetaStore::Conn* PgMetaStore::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty(); });
  Conn* c = idle_.back();
  idle_.pop_back();
  return c;
}

void PgMetaStore::Release(Conn* c) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(c);
  }
  cv_.notify_one();
}

template <typename F>
auto PgMetaStore::InTxn(F fn) {
  Lease c(*this);
  for (int attempt = 0;; ++attempt) {
    try {
      c->Exec("BEGIN");
      auto result = fn(*c);
      c->Exec("COMMIT");
      return result;
    } catch (const Retry& e) {
      c->Abandon();
      if (attempt >= 8) throw StoreError(std::string("postgres: gave up retrying: ") + e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(attempt, 6)));
    } catch (...) {
      c->Abandon();
      throw;
    }
  }
}

void PgMetaStore::Migrate() {
  InTxn([](Conn& c) {
    c.Exec(kMigrationLock);
    c.ExecScript("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    int64_t version = c.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_version").Int(0, 0);
    const int64_t target = static_cast<int64_t>(std::size(kMigrations));
    for (int64_t v = version; v < target; ++v) {
      c.ExecScript(kMigrations[v]);
      c.Exec("INSERT INTO schema_version(version) VALUES ($1)", {P(v + 1)});
    }
    return 0;
  });
}

void PgMetaStore::Ping() {
  Lease c(*this);
  c->Exec("SELECT 1");
}

void PgMetaStore::CreateUser(const User& user, const std::string& key_hash) {
  InTxn([&](Conn& c) {
    c.Exec("INSERT INTO users(id, name, email, is_admin, created_ms) VALUES ($1,$2,$3,$4,$5)",
           {P(user.id), P(user.name), P(user.email), P(int64_t{user.is_admin ? 1 : 0}),
            P(user.created_ms)});
    c.Exec("INSERT INTO api_keys(key_hash, user_id, created_ms) VALUES ($1,$2,$3)",
           {P(key_hash), P(user.id), P(user.created_ms)});
    return 0;
  });
}

std::optional<User> PgMetaStore::FindUserByKeyHash(const std::string& key_hash) {
  Lease c(*this);
  auto r = c->Exec(
      "SELECT u.id, u.name, u.email, u.is_admin, u.created_ms FROM api_keys k "
      "JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1",
      {P(key_hash)});
  if (r.rows() == 0) return std::nullopt;
  return ReadUser(r);
}

std::optional<User> PgMetaStore::GetUser(const std::string& user_id) {
  Lease c(*this);
  auto r = c->Exec("SELECT id, name, email, is_admin, created_ms FROM users WHERE id = $1",
                   {P(user_id)});
  if (r.rows() == 0) return std::nullopt;
  return ReadUser(r);
}

void PgMetaStore::SetAdminKey(const std::string& key_hash) {
  InTxn([&](Conn& c) {
    std::string admin_id;
    auto r = c.Exec("SELECT id FROM users WHERE is_admin = 1 LIMIT 1 FOR UPDATE");
    const int64_t now = NowMs();
    if (r.rows() > 0) {
      admin_id = r.Text(0, 0);
    } else {
      // Two nodes creating the admin at once: users_one_admin lets one win; the other
      // retries and finds it.
      admin_id = NewUuidV7();
      c.Exec("INSERT INTO users(id, name, email, is_admin, created_ms) VALUES ($1,'admin','',1,$2)",
             {P(admin_id), P(now)});
    }
    c.Exec("DELETE FROM api_keys WHERE user_id = $1 AND key_hash <> $2",
           {P(admin_id), P(key_hash)});
    c.Exec(
        "INSERT INTO api_keys(key_hash, user_id, created_ms) VALUES ($1,$2,$3) "
        "ON CONFLICT (key_hash) DO NOTHING",
        {P(key_hash), P(admin_id), P(now)});
    return 0;
  });
}

bool PgMetaStore::HasAdmin() {
  Lease c(*this);
  return c->Exec("SELECT 1 FROM users WHERE is_admin = 1 LIMIT 1").rows() > 0;
}

MetaStore::CommitResult PgMetaStore::CommitImage(const Image& cand, DuplicatePolicy policy,
                                                 const EnsureBytes& ensure_bytes) {
  return InTxn([&](Conn& c) { return *CommitReady(c, cand, policy, nullptr, ensure_bytes); });
}

void PgMetaStore::CreatePendingImage(const Image& image) {
  Image pending = image;
  pending.status = kStatusPending;
  pending.sha256.clear();
  Lease c(*this);
  InsertImage(*c, pending, false);
}

std::optional<MetaStore::CommitResult> PgMetaStore::CompletePendingImage(
    const std::string& image_id, const BlobInfo& blob, int64_t now_ms, DuplicatePolicy policy,
    const EnsureBytes& ensure_bytes) {
  return InTxn([&](Conn& c) -> std::optional<CommitResult> {
    auto pending = SelectImage(c, image_id, true);
    if (!pending || pending->status != kStatusPending || pending->expires_ms < now_ms) {
      return std::nullopt;
    }
    Image ready = *pending;
    ready.sha256 = blob.sha256;
    ready.size = blob.size;
    ready.width = blob.width;
    ready.height = blob.height;
    ready.modified_ms = now_ms;
    return CommitReady(c, ready, policy, &image_id, ensure_bytes);
  });
}

std::vector<std::string> PgMetaStore::DeleteExpiredPending(int64_t now_ms) {
  Lease c(*this);
  auto r = c->Exec("DELETE FROM images WHERE status = 'pending' AND expires_ms < $1 RETURNING id",
                   {P(now_ms)});
  std::vector<std::string> ids;
  for (int i = 0; i < r.rows(); ++i) ids.push_back(r.Text(i, 0));
  return ids;
}

void PgMetaStore::CreateUpload(const ResumableUpload& u) {
  Lease c(*this);
  c->Exec(
      "INSERT INTO uploads(id, user_id, length, name, description, policy, created_ms, "
      "expires_ms, visibility) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
      {P(u.id), P(u.user_id), P(static_cast<int64_t>(u.length)), P(u.name), P(u.description),
       P(u.policy), P(u.created_ms), P(u.expires_ms), P(u.visibility)});
}

std::optional<ResumableUpload> PgMetaStore::GetUpload(const std::string& upload_id) {
  Lease c(*this);
  auto r = c->Exec(
      "SELECT id, user_id, length, name, description, policy, created_ms, expires_ms, "
      "COALESCE(image_id, ''), visibility FROM uploads WHERE id = $1",
      {P(upload_id)});
  if (r.rows() == 0) return std::nullopt;
  ResumableUpload u;
  u.id = r.Text(0, 0);
  u.user_id = r.Text(0, 1);
  u.length = static_cast<uint64_t>(r.Int(0, 2));
  u.name = r.Text(0, 3);
  u.description = r.Text(0, 4);
  u.policy = r.Text(0, 5);
  u.created_ms = r.Int(0, 6);
  u.expires_ms = r.Int(0, 7);
  u.image_id = r.Text(0, 8);
  u.visibility = r.Text(0, 9);
  return u;
}

std::optional<MetaStore::CommitResult> PgMetaStore::CompleteUpload(
    const std::string& upload_id, const Image& candidate, DuplicatePolicy policy,
    const EnsureBytes& ensure_bytes) {
  return InTxn([&](Conn& c) -> std::optional<CommitResult> {
    auto r = c.Exec("SELECT image_id FROM uploads WHERE id = $1 FOR UPDATE", {P(upload_id)});
    if (r.rows() == 0 || !r.Text(0, 0).empty()) return std::nullopt;
    auto result = CommitReady(c, candidate, policy, nullptr, ensure_bytes);
    c.Exec("UPDATE uploads SET image_id = $1 WHERE id = $2", {P(result->image.id), P(upload_id)});
    return result;
  });
}

bool PgMetaStore::DeleteUpload(const std::string& upload_id) {
  Lease c(*this);
  return c->Exec("DELETE FROM uploads WHERE id = $1 RETURNING id", {P(upload_id)}).rows() > 0;
}

bool PgMetaStore::LeaseUpload(const std::string& upload_id, const std::string& owner,
                              int64_t now_ms, int64_t until_ms) {
  Lease c(*this);
  return c->Exec(
              "UPDATE uploads SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND "
              "(lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4) RETURNING 1",
              {P(owner), P(until_ms), P(upload_id), P(now_ms)})
             .rows() > 0;
}

void PgMetaStore::ReleaseUploadLease(const std::string& upload_id, const std::string& owner) {
  Lease c(*this);
  c->Exec(
      "UPDATE uploads SET lease_owner = NULL, lease_until = 0 WHERE id = $1 AND "
      "lease_owner = $2",
      {P(upload_id), P(owner)});
}

std::vector<std::string> PgMetaStore::DeleteExpiredUploads(int64_t now_ms) {
  Lease c(*this);
  auto r = c->Exec("DELETE FROM uploads WHERE expires_ms < $1 RETURNING id", {P(now_ms)});
  std::vector<std::string> ids;
  for (int i = 0; i < r.rows(); ++i) ids.push_back(r.Text(i, 0));
  return ids;
}

bool PgMetaStore::ClaimIdempotencyKey(const std::string& user_id, const std::string& key,
                                      const std::string& fingerprint, int64_t now_ms,
                                      int64_t stale_before_ms, int64_t expired_before_ms) {
  // One statement: the unique key makes concurrent claims queue, and exactly one inserts or
  // takes over a stale record.
  Lease c(*this);
  for (int attempt = 0;; ++attempt) {
    try {
      auto r = c->Exec(
          "INSERT INTO idempotency_keys(user_id, key, fingerprint, done, created_ms) "
          "VALUES ($1,$2,$3,0,$4) ON CONFLICT (user_id, key) DO UPDATE SET "
          "fingerprint = excluded.fingerprint, done = 0, status = 0, body = '', location = '', "
          "created_ms = excluded.created_ms "
          "WHERE (idempotency_keys.done = 0 AND idempotency_keys.created_ms < $5) OR "
          "(idempotency_keys.done = 1 AND idempotency_keys.created_ms < $6) RETURNING 1",
          {P(user_id), P(key), P(fingerprint), P(now_ms), P(stale_before_ms),
           P(expired_before_ms)});
      return r.rows() > 0;
    } catch (const Retry&) {
      if (attempt >= 8) throw StoreError("postgres: idempotency claim kept conflicting");
    }
  }
}

std::optional<IdempotencyRecord> PgMetaStore::GetIdempotencyKey(const std::string& user_id,
                                                                const std::string& key) {
  Lease c(*this);
  auto r = c->Exec(
      "SELECT fingerprint, done, status, body, location, created_ms FROM idempotency_keys "
      "WHERE user_id = $1 AND key = $2",
      {P(user_id), P(key)});
  if (r.rows() == 0) return std::nullopt;
  IdempotencyRecord rec;
  rec.fingerprint = r.Text(0, 0);
  rec.done = r.Int(0, 1) != 0;
  rec.status = static_cast<int>(r.Int(0, 2));
  rec.body = r.Text(0, 3);
  rec.location = r.Text(0, 4);
  rec.created_ms = r.Int(0, 5);
  return rec;
}

void PgMetaStore::CompleteIdempotencyKey(const std::string& user_id, const std::string& key,
                                         const IdempotencyRecord& rec) {
  Lease c(*this);
  c->Exec(
      "UPDATE idempotency_keys SET fingerprint = $1, done = 1, status = $2, body = $3, "
      "location = $4 WHERE user_id = $5 AND key = $6",
      {P(rec.fingerprint), P(int64_t{rec.status}), P(rec.body), P(rec.location), P(user_id),
       P(key)});
}

void PgMetaStore::ReleaseIdempotencyKey(const std::string& user_id, const std::string& key) {
  Lease c(*this);
  c->Exec("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND done = 0",
          {P(user_id), P(key)});
}

size_t PgMetaStore::DeleteExpiredIdempotencyKeys(int64_t before_ms) {
  Lease c(*this);
  return static_cast<size_t>(
      c->Exec("DELETE FROM idempotency_keys WHERE created_ms < $1 RETURNING 1", {P(before_ms)})
          .rows());
}

std::string PgMetaStore::GetOrCreateSecret(const std::string& name, const std::string& candidate) {
  Lease c(*this);
  c->Exec("INSERT INTO secrets(name, value, created_ms) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING",
          {P(name), P(candidate), P(NowMs())});
  auto r = c->Exec("SELECT value FROM secrets WHERE name = $1", {P(name)});
  if (r.rows() == 0) throw StoreError("secret " + name + " vanished");
  return r.Text(0, 0);
}

std::vector<MetaStore::UserExport> PgMetaStore::ExportUsers(const std::string& after_id,
                                                            int limit) {
  Lease c(*this);
  auto r = c->Exec(
      "SELECT id, name, email, is_admin, created_ms FROM users WHERE id > $1 ORDER BY id "
      "LIMIT $2",
      {P(after_id), P(int64_t{limit})});
  std::vector<UserExport> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({ReadUser(r, i), {}});
  for (auto& u : out) {
    auto k = c->Exec("SELECT key_hash FROM api_keys WHERE user_id = $1 ORDER BY key_hash",
                     {P(u.user.id)});
    for (int i = 0; i < k.rows(); ++i) u.key_hashes.push_back(k.Text(i, 0));
  }
  return out;
}

void PgMetaStore::ImportUser(const UserExport& u) {
  InTxn([&](Conn& c) {
    c.Exec(
        "INSERT INTO users(id, name, email, is_admin, created_ms) VALUES ($1,$2,$3,$4,$5) "
        "ON CONFLICT (id) DO NOTHING",
        {P(u.user.id), P(u.user.name), P(u.user.email), P(int64_t{u.user.is_admin ? 1 : 0}),
         P(u.user.created_ms)});
    for (const auto& k : u.key_hashes) {
      c.Exec(
          "INSERT INTO api_keys(key_hash, user_id, created_ms) VALUES ($1,$2,$3) "
          "ON CONFLICT (key_hash) DO NOTHING",
          {P(k), P(u.user.id), P(u.user.created_ms)});
    }
    return 0;
  });
}

std::vector<Image> PgMetaStore::ExportImages(const std::string& after_id, int limit) {
  Lease c(*this);
  auto r = c->Exec(std::string("SELECT ") + kImageColumns +
                       " FROM images WHERE id > $1 AND status = 'ready' ORDER BY id LIMIT $2",
                   {P(after_id), P(int64_t{limit})});
  std::vector<Image> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(ReadImage(r, i));
  return out;
}

bool PgMetaStore::ImportImage(const Image& im) {
  return InTxn([&](Conn& c) {
    if (SelectImage(c, im.id)) return false;
    const bool first = c.Exec("SELECT 1 FROM images WHERE user_id = $1 AND dedup_key = $2",
                              {P(im.user_id), P(im.sha256)})
                           .rows() == 0;
    InsertImage(c, im, first);
    AddBlobReference(c, im, im.created_ms);
    return true;
  });
}

std::optional<Image> PgMetaStore::GetImage(const std::string& image_id) {
  Lease c(*this);
  return SelectImage(*c, image_id);
}

std::vector<Image> PgMetaStore::ListImages(const std::string& user_id, int limit,
                                           const std::string& after_id) {
  Lease c(*this);
  auto r = c->Exec(std::string("SELECT ") + kImageColumns +
                       " FROM images WHERE user_id = $1 AND ($2 = '' OR id < $2) "
                       "ORDER BY id DESC LIMIT $3",
                   {P(user_id), P(after_id), P(int64_t{limit})});
  std::vector<Image> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(ReadImage(r, i));
  return out;
}

std::optional<Image> PgMetaStore::UpdateImage(const std::string& image_id,
                                              const ImageChanges& changes,
                                              const std::string& modified_by, int64_t modified_ms) {
  Lease c(*this);
  auto opt = [](const std::optional<std::string>& v) { return v ? P(*v) : kNull; };
  auto r = c->Exec(std::string("UPDATE images SET name = COALESCE($1, name), "
                               "description = COALESCE($2, description), "
                               "visibility = COALESCE($3, visibility), modified_by = $4, "
                               "modified_ms = $5 WHERE id = $6 RETURNING ") +
                       kImageColumns,
                   {opt(changes.name), opt(changes.description), opt(changes.visibility),
                    P(modified_by), P(modified_ms), P(image_id)});
  if (r.rows() == 0) return std::nullopt;
  return ReadImage(r, 0);
}

MetaStore::DeleteResult PgMetaStore::DeleteImage(const std::string& image_id) {
  return InTxn([&](Conn& c) {
    DeleteResult d;
    auto r =
        c.Exec("DELETE FROM images WHERE id = $1 RETURNING COALESCE(sha256, '')", {P(image_id)});
    if (r.rows() == 0) return d;
    d.found = true;
    d.sha256 = r.Text(0, 0);
    if (!d.sha256.empty()) {
      auto left =
          c.Exec("UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = $1 RETURNING refcount",
                 {P(d.sha256)});
      d.blob_released = left.rows() > 0 && left.Int(0, 0) == 0;
    }
    return d;
  });
}

std::optional<BlobInfo> PgMetaStore::GetBlob(const std::string& sha256) {
  Lease c(*this);
  auto r = c->Exec("SELECT sha256, size, width, height, refcount FROM blobs WHERE sha256 = $1",
                   {P(sha256)});
  if (r.rows() == 0) return std::nullopt;
  BlobInfo b;
  b.sha256 = r.Text(0, 0);
  b.size = static_cast<uint64_t>(r.Int(0, 1));
  b.width = static_cast<int>(r.Int(0, 2));
  b.height = static_cast<int>(r.Int(0, 3));
  b.refcount = r.Int(0, 4);
  return b;
}

bool PgMetaStore::BlobReferenced(const std::string& sha256) {
  Lease c(*this);
  return c->Exec("SELECT 1 FROM blobs WHERE sha256 = $1 AND refcount > 0", {P(sha256)}).rows() > 0;
}

std::vector<std::string> PgMetaStore::UnreferencedBlobs(int limit) {
  Lease c(*this);
  auto r = c->Exec("SELECT sha256 FROM blobs WHERE refcount <= 0 LIMIT $1", {P(int64_t{limit})});
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.Text(i, 0));
  return out;
}

void PgMetaStore::TrackUnrecordedBlob(const std::string& sha256, uint64_t size) {
  Lease c(*this);
  c->Exec(
      "INSERT INTO blobs(sha256, size, width, height, refcount, created_ms) "
      "VALUES ($1,$2,0,0,0,$3) ON CONFLICT (sha256) DO NOTHING",
      {P(sha256), P(static_cast<int64_t>(size)), P(NowMs())});
}

bool PgMetaStore::RemoveBlobIfUnreferenced(const std::string& sha256,
                                           const std::function<void()>& remove_bytes) {
  return InTxn([&](Conn& c) {
    // The row lock makes a concurrent commit of the same bytes wait until the bytes and
    // the row are gone; it then inserts the row afresh and stores the bytes again.
    auto r = c.Exec("SELECT refcount FROM blobs WHERE sha256 = $1 FOR UPDATE", {P(sha256)});
    if (r.rows() == 0 || r.Int(0, 0) > 0) return false;
    remove_bytes();
    c.Exec("DELETE FROM blobs WHERE sha256 = $1", {P(sha256)});
    return true;
  });
}

}  // namespace imgd

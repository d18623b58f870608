#include "meta/sql_meta_store.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "meta/record_rows.h"
#include "meta/sql_image_rows.h"

namespace imgd {

using sql::kImageColumns;
using sql::kUserColumns;

SqlMetaStore::SqlMetaStore(std::unique_ptr<SqlEngine> engine) : engine_(std::move(engine)) {
  for (int i = 0; i < engine_->pool_size(); ++i) {
    all_.push_back(engine_->Connect());
    idle_.push_back(all_.back().get());
  }
}

SqlMetaStore::~SqlMetaStore() = default;

void SqlMetaStore::RunRetrying(Txn txn, const std::function<void(SqlSession&)>& fn) {
  SqlSession* s;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty(); });
    s = idle_.back();
    idle_.pop_back();
  }
  struct Return {
    SqlMetaStore& store;
    SqlSession* s;
    ~Return() {
      {
        std::lock_guard lock(store.mu_);
        store.idle_.push_back(s);
      }
      store.cv_.notify_one();
    }
  } give_back{*this, s};
  for (int attempt = 0;; ++attempt) {
    try {
      if (txn != Txn::kNone) s->Begin(txn == Txn::kWrite);
      fn(*s);
      if (txn != Txn::kNone) s->Commit();
      return;
    } catch (const SqlRetry& e) {
      s->Rollback();
      if (attempt >= 8) {
        throw StoreError(std::string(dialect().name) + ": gave up retrying: " + e.what());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(attempt, 6)));
    } catch (...) {
      s->Rollback();
      throw;
    }
  }
}

void SqlMetaStore::Ping() {
  Run([](SqlSession& s) { s.Exec("SELECT 1"); });
}

// --- users and keys ---

void SqlMetaStore::CreateUser(const User& user, const std::string& key_hash) {
  Run(Txn::kWrite, [&](SqlSession& s) {
    s.Exec("INSERT INTO users(id, name, email, is_admin, created_ms) VALUES (?,?,?,?,?)",
           {user.id, user.name, user.email, int64_t{user.is_admin ? 1 : 0}, user.created_ms});
    s.Exec("INSERT INTO api_keys(key_hash, user_id, created_ms) VALUES (?,?,?)",
           {key_hash, user.id, user.created_ms});
  });
}

std::optional<User> SqlMetaStore::FindUserByKeyHash(const std::string& key_hash) {
  return Run([&](SqlSession& s) -> std::optional<User> {
    auto r = s.Exec(
        "SELECT u.id, u.name, u.email, u.is_admin, u.created_ms FROM api_keys k "
        "JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?",
        {key_hash});
    if (r.empty()) return std::nullopt;
    return sql::ReadUser(r, 0);
  });
}

std::optional<User> SqlMetaStore::GetUser(const std::string& user_id) {
  return Run([&](SqlSession& s) -> std::optional<User> {
    auto r = s.Exec(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?", {user_id});
    if (r.empty()) return std::nullopt;
    return sql::ReadUser(r, 0);
  });
}

void SqlMetaStore::SetAdminKey(const std::string& key_hash) {
  Run(Txn::kWrite, [&](SqlSession& s) {
    auto r = s.Exec(std::string("SELECT id FROM users WHERE is_admin = 1 LIMIT 1") +
                    dialect().for_update);
    const int64_t now = NowMs();
    std::string admin_id;
    if (!r.empty()) {
      admin_id = r.Text(0, 0);
    } else {
      // Two nodes creating the admin at once: users_one_admin lets one win; the other
      // reruns and finds it.
      admin_id = NewUuidV7();
      s.Exec("INSERT INTO users(id, name, email, is_admin, created_ms) VALUES (?,'admin','',1,?)",
             {admin_id, now});
    }
    s.Exec("DELETE FROM api_keys WHERE user_id = ? AND key_hash <> ?", {admin_id, key_hash});
    s.Exec(
        "INSERT INTO api_keys(key_hash, user_id, created_ms) VALUES (?,?,?) "
        "ON CONFLICT (key_hash) DO NOTHING",
        {key_hash, admin_id, now});
  });
}

bool SqlMetaStore::HasAdmin() {
  return Run([](SqlSession& s) {
    return !s.Exec("SELECT 1 FROM users WHERE is_admin = 1 LIMIT 1").empty();
  });
}

// --- images ---

MetaStore::CommitResult SqlMetaStore::CommitImage(const Image& candidate, DuplicatePolicy policy,
                                                  const EnsureBytes& ensure_bytes) {
  return Run(Txn::kWrite, [&](SqlSession& s) {
    return *sql::CommitReady(s, dialect(), candidate, policy, nullptr, ensure_bytes);
  });
}

void SqlMetaStore::CreatePendingImage(const Image& image) {
  Image pending = image;
  pending.status = kStatusPending;
  pending.sha256.clear();
  Run([&](SqlSession& s) { sql::InsertImage(s, pending, false); });
}

std::optional<MetaStore::CommitResult> SqlMetaStore::CompletePendingImage(
    const std::string& image_id, const BlobInfo& blob, int64_t now_ms, DuplicatePolicy policy,
    const EnsureBytes& ensure_bytes) {
  return Run(Txn::kWrite, [&](SqlSession& s) -> std::optional<CommitResult> {
    auto pending = sql::SelectImage(s, dialect(), image_id, true);
    if (!pending || pending->status != kStatusPending || pending->expires_ms < now_ms) {
      return std::nullopt;
    }
    Image ready = *pending;
    ready.sha256 = blob.sha256;
    ready.size = blob.size;
    ready.width = blob.width;
    ready.height = blob.height;
    ready.blurhash = blob.blurhash;
    ready.modified_ms = now_ms;
    return sql::CommitReady(s, dialect(), ready, policy, &image_id, ensure_bytes);
  });
}

std::vector<std::string> SqlMetaStore::DeleteExpiredPending(int64_t now_ms) {
  return Run([&](SqlSession& s) {
    auto r = s.Exec("DELETE FROM images WHERE status = 'pending' AND expires_ms < ? RETURNING id",
                    {now_ms});
    std::vector<std::string> ids;
    for (size_t i = 0; i < r.size(); ++i) ids.push_back(r.Text(i, 0));
    return ids;
  });
}

std::optional<Image> SqlMetaStore::GetImage(const std::string& image_id) {
  return Run([&](SqlSession& s) { return sql::SelectImage(s, dialect(), image_id); });
}

std::optional<Image> SqlMetaStore::FindImageByContent(const std::string& user_id,
                                                      const std::string& sha256) {
  return Run([&](SqlSession& s) -> std::optional<Image> {
    auto r = s.Exec(std::string("SELECT ") + kImageColumns +
                        " FROM images WHERE user_id = ? AND sha256 = ? AND status = 'ready' "
                        "ORDER BY id LIMIT 1",
                    {user_id, sha256});
    if (r.empty()) return std::nullopt;
    return sql::ReadImage(r, 0);
  });
}

std::vector<Image> SqlMetaStore::ListImages(const std::string& user_id, int limit,
                                            const std::string& after_id) {
  return Run([&](SqlSession& s) {
    auto r = s.Exec(std::string("SELECT ") + kImageColumns +
                        " FROM images WHERE user_id = ? AND (? = '' OR id < ?) "
                        "ORDER BY id DESC LIMIT ?",
                    {user_id, after_id, after_id, int64_t{limit}});
    std::vector<Image> out;
    for (size_t i = 0; i < r.size(); ++i) out.push_back(sql::ReadImage(r, i));
    return out;
  });
}

std::optional<Image> SqlMetaStore::UpdateImage(const std::string& image_id,
                                               const ImageChanges& changes,
                                               const std::string& modified_by,
                                               int64_t modified_ms) {
  auto opt = [](const std::optional<std::string>& v) { return v ? SqlParam(*v) : nullptr; };
  return Run([&](SqlSession& s) -> std::optional<Image> {
    auto r = s.Exec(std::string("UPDATE images SET name = COALESCE(?, name), "
                                "description = COALESCE(?, description), "
                                "visibility = COALESCE(?, visibility), modified_by = ?, "
                                "modified_ms = ? WHERE id = ? RETURNING ") +
                        kImageColumns,
                    {opt(changes.name), opt(changes.description), opt(changes.visibility),
                     modified_by, modified_ms, image_id});
    if (r.empty()) return std::nullopt;
    return sql::ReadImage(r, 0);
  });
}

MetaStore::DeleteResult SqlMetaStore::DeleteImage(const std::string& image_id) {
  return Run(Txn::kWrite, [&](SqlSession& s) {
    DeleteResult d;
    auto r = s.Exec("DELETE FROM images WHERE id = ? RETURNING COALESCE(sha256, '')", {image_id});
    if (r.empty()) return d;
    d.found = true;
    d.sha256 = r.Text(0, 0);
    if (!d.sha256.empty()) {
      auto left =
          s.Exec("UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = ? RETURNING refcount",
                 {d.sha256});
      d.blob_released = !left.empty() && left.Int(0, 0) == 0;
    }
    return d;
  });
}

// --- blobs ---

std::optional<BlobInfo> SqlMetaStore::GetBlob(const std::string& sha256) {
  return Run([&](SqlSession& s) -> std::optional<BlobInfo> {
    auto r =
        s.Exec("SELECT sha256, size, width, height, blurhash, refcount FROM blobs WHERE sha256 = ?",
               {sha256});
    if (r.empty()) return std::nullopt;
    BlobInfo b = BlobFromRow(r, 0);
    b.refcount = r.Int(0, 5);
    return b;
  });
}

bool SqlMetaStore::BlobReferenced(const std::string& sha256) {
  return Run([&](SqlSession& s) {
    return !s.Exec("SELECT 1 FROM blobs WHERE sha256 = ? AND refcount > 0", {sha256}).empty();
  });
}

std::vector<std::string> SqlMetaStore::UnreferencedBlobs(int limit) {
  return Run([&](SqlSession& s) {
    auto r = s.Exec("SELECT sha256 FROM blobs WHERE refcount <= 0 LIMIT ?", {int64_t{limit}});
    std::vector<std::string> out;
    for (size_t i = 0; i < r.size(); ++i) out.push_back(r.Text(i, 0));
    return out;
  });
}

void SqlMetaStore::TrackUnrecordedBlob(const std::string& sha256, uint64_t size,
                                       int64_t /*in_flight_before_ms: references are
                                                  transactional here*/) {
  Run([&](SqlSession& s) {
    s.Exec(
        "INSERT INTO blobs(sha256, size, width, height, refcount, created_ms) "
        "VALUES (?,?,0,0,0,?) ON CONFLICT (sha256) DO NOTHING",
        {sha256, static_cast<int64_t>(size), NowMs()});
  });
}

bool SqlMetaStore::RemoveBlobIfUnreferenced(const std::string& sha256,
                                            const std::function<void()>& remove_bytes) {
  return Run(Txn::kWrite, [&](SqlSession& s) {
    // The row lock (SQLite: the database write lock) makes a concurrent commit of the same
    // bytes wait until the bytes and the row are gone; it then inserts the row afresh and
    // stores the bytes again.
    auto r =
        s.Exec(std::string("SELECT refcount FROM blobs WHERE sha256 = ?") + dialect().for_update,
               {sha256});
    if (r.empty() || r.Int(0, 0) > 0) return false;
    remove_bytes();
    s.Exec("DELETE FROM blobs WHERE sha256 = ? AND refcount <= 0", {sha256});
    return true;
  });
}

}  // namespace imgd

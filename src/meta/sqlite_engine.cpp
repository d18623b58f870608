// SQLite 3 engine for the SQL MetaStore: WAL, synchronous=FULL (a commit is durable before
// we answer), a small pool of connections. Write transactions are BEGIN IMMEDIATE, so
// writers queue on the database lock instead of failing, and no transaction ever loses a
// race it could win by rerunning: nothing here throws SqlRetry.
//
// Writers of this process queue on a mutex of the engine before they take SQLite's lock,
// and are woken the moment it is free. SQLite's own busy handler polls instead, sleeping
// 1, 2, 5 ... 100 ms between tries: under load a writer behind a commit of a few ms slept
// for hundreds (an upload's record took 290-480 ms at p99 at twice the mix's capacity).
// The busy timeout still covers writers in other processes (an admin command).
#include <sqlite3.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "core/errors.h"
#include "meta/sql_session.h"
#include "obs/store_metrics.h"

namespace imgd {
namespace {

// Writers hold the whole database, so no row-locking clause and no migration lock.
constexpr SqlDialect kSqlite = {"sqlite", "", "",
                                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", 0};

constexpr int kBusyTimeoutMs = 10000;

class SqliteSession final : public SqlSession {
 public:
  SqliteSession(const std::string& path, std::timed_mutex& writers) : writers_(writers) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw StoreError("sqlite open " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    ExecScript("PRAGMA journal_mode=WAL");
    ExecScript("PRAGMA synchronous=FULL");
    ExecScript("PRAGMA foreign_keys=ON");
  }
  ~SqliteSession() override {
    ReleaseWriter();
    for (auto& [sql, p] : stmts_) sqlite3_finalize(p.st);
    sqlite3_close(db_);
  }

  SqlRows Exec(const std::string& sql, const std::vector<SqlParam>& params) override {
    Prepared& p = Prepare(sql);
    StoreCallTimer timer("sqlite", p.op);
    // Reset on every exit, so the statement holds no lock or binding after the call.
    struct Reset {
      sqlite3_stmt* st;
      ~Reset() {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
      }
    } reset{p.st};
    // A write outside a transaction queues with the other writers for its one statement.
    std::unique_lock<std::timed_mutex> writing;
    if (!holds_writer_ && sqlite3_get_autocommit(db_) && !sqlite3_stmt_readonly(p.st)) {
      writing = std::unique_lock(writers_, kWriterWait);
    }
    for (size_t i = 0; i < params.size(); ++i) Bind(p.st, static_cast<int>(i + 1), params[i]);
    const int columns = sqlite3_column_count(p.st);
    SqlRows rows(columns);
    for (;;) {
      const int rc = sqlite3_step(p.st);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        // A constraint violation is a decision the caller acts on, not a store failure.
        if ((rc & 0xff) == SQLITE_CONSTRAINT) timer.Expected();
        throw StoreError(std::string("sqlite step: ") + sqlite3_errmsg(db_));
      }
      for (int c = 0; c < columns; ++c) {
        if (sqlite3_column_type(p.st, c) == SQLITE_NULL) {
          rows.Add(std::nullopt);
          continue;
        }
        const auto* text = sqlite3_column_text(p.st, c);
        rows.Add(std::string(reinterpret_cast<const char*>(text),
                             static_cast<size_t>(sqlite3_column_bytes(p.st, c))));
      }
    }
    return rows;
  }

  void ExecScript(const std::string& sql) override {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      throw StoreError("sqlite: " + msg);
    }
  }

  void Begin(bool write) override {
    if (!write) return ExecScript("BEGIN");
    // Past the wait (a writer of this process stuck for the whole busy timeout), go on to
    // SQLite's lock anyway: it fails there with the same error it always did.
    holds_writer_ = writers_.try_lock_for(kWriterWait);
    try {
      ExecScript("BEGIN IMMEDIATE");
    } catch (...) {
      ReleaseWriter();
      throw;
    }
  }
  void Commit() override {
    ExecScript("COMMIT");  // on failure the caller rolls back, which lets the writers go
    ReleaseWriter();
  }
  void Rollback() noexcept override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    ReleaseWriter();
  }

 private:
  static constexpr std::chrono::milliseconds kWriterWait{kBusyTimeoutMs};

  void ReleaseWriter() noexcept {
    if (holds_writer_) writers_.unlock();
    holds_writer_ = false;
  }

  struct Prepared {
    sqlite3_stmt* st;
    std::string op;  // for the store-call metrics
  };

  Prepared& Prepare(const std::string& sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) return it->second;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) !=
        SQLITE_OK) {
      throw StoreError("sqlite prepare: " + std::string(sqlite3_errmsg(db_)));
    }
    return stmts_.emplace(sql, Prepared{st, StatementOp(sql)}).first->second;
  }

  void Bind(sqlite3_stmt* st, int i, const SqlParam& v) {
    int rc = SQLITE_OK;
    if (const auto* s = std::get_if<std::string>(&v)) {
      rc = sqlite3_bind_text(st, i, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
    } else if (const auto* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(st, i, *n);
    } else {
      rc = sqlite3_bind_null(st, i);
    }
    if (rc != SQLITE_OK) throw StoreError(std::string("sqlite bind: ") + sqlite3_errmsg(db_));
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, Prepared> stmts_;
  std::timed_mutex& writers_;  // the engine's: one writer of this process at a time
  bool holds_writer_ = false;
};

class SqliteEngine final : public SqlEngine {
 public:
  SqliteEngine(std::string path, int pool_size) : path_(std::move(path)), pool_size_(pool_size) {}
  const SqlDialect& dialect() const override { return kSqlite; }
  std::unique_ptr<SqlSession> Connect() override {
    return std::make_unique<SqliteSession>(path_, writers_);
  }
  int pool_size() const override { return pool_size_; }

 private:
  std::string path_;
  int pool_size_;
  std::timed_mutex writers_;  // see the top of this file
};

}  // namespace

std::unique_ptr<SqlEngine> OpenSqliteEngine(const std::string& path, int pool_size) {
  return std::make_unique<SqliteEngine>(path, pool_size);
}

}  // namespace imgd

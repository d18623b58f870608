#pragma once
// The small interface the SQL MetaStore (sql_meta_store.h) is written against: one
// connection that runs statements, and the engine that opens connections and names what its
// SQL dialect does differently. SQLite (sqlite_engine.cpp) and PostgreSQL (pg_engine.cpp)
// implement it; every statement, the schema, the row mapping and the rules live once in
// sql_meta_store.cpp and sql_schema.cpp.
//
// Statements are written with `?` placeholders, in the SQL both engines accept (ON CONFLICT
// upserts, RETURNING, partial indexes); an engine rewrites the placeholders for itself.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace imgd {

class CircuitBreaker;

// A value bound to a statement's next `?`.
using SqlParam = std::variant<std::nullptr_t, int64_t, std::string>;

// Thrown by a statement that lost a race a rerun of its whole transaction can win (unique
// violation on a concurrent insert, serialization failure, deadlock). The store reruns; no
// caller outside meta/ sees it.
class SqlRetry : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A statement's result rows, read into memory (every statement here returns a few small
// rows, or a bounded page). Text of NULL is "", Int of NULL is 0.
class SqlRows {
 public:
  explicit SqlRows(int columns = 0) : columns_(columns) {}
  size_t size() const { return columns_ ? cells_.size() / static_cast<size_t>(columns_) : 0; }
  bool empty() const { return size() == 0; }
  const std::string& Text(size_t row, int col) const;
  int64_t Int(size_t row, int col) const;
  bool IsNull(size_t row, int col) const { return !Cell(row, col).has_value(); }

  // For engines: appends the next cell, row by row.
  void Add(std::optional<std::string> cell) { cells_.push_back(std::move(cell)); }

 private:
  const std::optional<std::string>& Cell(size_t row, int col) const;
  int columns_;
  std::vector<std::optional<std::string>> cells_;
};

// One connection. Not thread-safe: the store lends each to one call at a time.
class SqlSession {
 public:
  virtual ~SqlSession() = default;
  // Runs one statement, prepared once per connection. Throws SqlRetry (see above) or
  // StoreError for any other failure, including a lost connection (reopened on next use).
  virtual SqlRows Exec(const std::string& sql, const std::vector<SqlParam>& params = {}) = 0;
  // Runs statements without parameters, several at once (schema changes).
  virtual void ExecScript(const std::string& sql) = 0;
  // Starts a transaction. A `write` one takes the engine's write lock at once where there
  // is one lock for the whole database (SQLite), so writers queue instead of failing later.
  virtual void Begin(bool write) = 0;
  virtual void Commit() = 0;
  // Ends a failed transaction if the connection is still usable; never throws.
  virtual void Rollback() noexcept = 0;
};

// A statement containing this comment is planned for its parameters on every run (engines
// that cache plans of prepared statements would otherwise settle on a generic one).
inline constexpr const char* kUnprepared = "/*unprepared*/";

// What differs between engines, besides the connection itself.
struct SqlDialect {
  const char* name;  // "sqlite", "postgres": for messages
  // Appended to a SELECT whose rows must stay locked until commit; "" where a write
  // transaction already holds the whole database.
  const char* for_update;
  // Run first in the migration transaction so concurrent migrators take turns; "" where
  // Begin(true) already serialises them.
  const char* migration_lock;
  // One row when the table named by the parameter exists.
  const char* table_exists;
  // Schema versions recorded before the numbering was shared between engines, plus this,
  // are today's numbers (PostgreSQL's first version held today's first two).
  int legacy_version_offset;
};

class SqlEngine {
 public:
  virtual ~SqlEngine() = default;
  virtual const SqlDialect& dialect() const = 0;
  // A new connection (it may connect lazily, on its first statement).
  virtual std::unique_ptr<SqlSession> Connect() = 0;
  // How many connections the store keeps.
  virtual int pool_size() const = 0;
  // The circuit breaker guarding a remote database (nullptr for embedded ones).
  virtual const CircuitBreaker* breaker() const { return nullptr; }
};

// sqlite:///path/imgd.db: WAL, synchronous=FULL (a commit is durable before we answer);
// the writers of one engine queue on its mutex, then on SQLite's lock (other processes).
std::unique_ptr<SqlEngine> OpenSqliteEngine(const std::string& path, int pool_size = 4);
// A libpq URI (postgres://user@host:port/db?...).
std::unique_ptr<SqlEngine> OpenPgEngine(const std::string& conninfo, int pool_size = 8);

}  // namespace imgd

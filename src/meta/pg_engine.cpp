// PostgreSQL engine for the SQL MetaStore (libpq). Stateless nodes share one database: every
// rule that must hold across nodes is a transaction plus a constraint, never an in-process
// lock. Each connection opens lazily and prepares its statements on first use. Statements
// that lose a race (unique violation, serialization failure, deadlock) throw SqlRetry and
// the store reruns the transaction, so it ends as some sequential order would. Avoids what
// PostgreSQL-protocol distributed databases lack on the hot path: no sequences (ids are
// UUIDv7 from the application), no LISTEN/NOTIFY; the advisory lock is taken only around
// migrations.
#include <libpq-fe.h>

#include <unordered_map>

#include "core/circuit_breaker.h"
#include "core/errors.h"
#include "meta/sql_session.h"
#include "obs/store_metrics.h"

namespace imgd {
namespace {

// Row locks; migrators take turns on an advisory lock (any key: imgd's own); version 1 of
// the old PostgreSQL list held today's versions 1 and 2.
constexpr SqlDialect kPostgres = {
    "postgres", " FOR UPDATE", "SELECT pg_advisory_xact_lock(7386419201)",
    "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND "
    "table_name = ?",
    1};

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// `?` → `$1`, `$2`, ... (statements here have no `?` inside literals).
std::string NumberPlaceholders(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (char c : sql) {
    if (c == '?') {
      out += '$' + std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult() { PQclear(r_); }
  const PGresult* get() const { return r_; }

 private:
  PGresult* r_;
};

class PgSession final : public SqlSession {
 public:
  PgSession(const std::string& conninfo, CircuitBreaker& breaker)
      : conninfo_(conninfo), breaker_(breaker) {}
  ~PgSession() override {
    if (c_) PQfinish(c_);
  }

  SqlRows Exec(const std::string& sql, const std::vector<SqlParam>& params) override {
    Statement& st = Find(sql);
    StoreCallTimer timer("postgres", st.op);
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      if (const auto* s = std::get_if<std::string>(&params[i])) {
        values[i] = s->c_str();
      } else if (const auto* n = std::get_if<int64_t>(&params[i])) {
        text[i] = std::to_string(*n);
        values[i] = text[i].c_str();
      }
    }
    Connect();
    const int count = static_cast<int>(values.size());
    try {
      if (st.text.find(kUnprepared) != std::string::npos) {
        // A statement whose best plan depends on its parameters' values (a long IN list):
        // unnamed, so PostgreSQL plans it for them each time instead of settling on a
        // generic plan that filters the list instead of looking it up in the index.
        PgResult r(
            PQexecParams(c_, st.text.c_str(), count, nullptr, values.data(), nullptr, nullptr, 0));
        return Rows(r, sql);
      }
      if (timer.trace() && timer.trace()->sampled) {
        // A sampled request's statements carry its trace as a trailing sqlcommenter
        // comment, for the server's logs and tracing; the text differs per call, so these
        // run unnamed (parsed each time) instead of prepared.
        const std::string traced = st.text + " /*traceparent='" + timer.Traceparent() + "'*/";
        PgResult r(
            PQexecParams(c_, traced.c_str(), count, nullptr, values.data(), nullptr, nullptr, 0));
        return Rows(r, sql);
      }
      if (!st.prepared) {
        PgResult r(PQprepare(c_, st.name.c_str(), st.text.c_str(), count, nullptr));
        Check(r, sql);
        st.prepared = true;
      }
      PgResult r(PQexecPrepared(c_, st.name.c_str(), count, values.data(), nullptr, nullptr, 0));
      return Rows(r, sql);
    } catch (const SqlRetry&) {
      timer.Expected();  // a lost race, rerun by the store: not a store failure
      throw;
    }
  }

  void ExecScript(const std::string& sql) override {
    Connect();
    PgResult r(PQexec(c_, sql.c_str()));
    Check(r, sql);
  }

  // Through Exec, so transaction control is timed like any statement.
  void Begin(bool) override { Exec("BEGIN", {}); }
  void Commit() override { Exec("COMMIT", {}); }
  void Rollback() noexcept override {
    if (c_ && PQstatus(c_) == CONNECTION_OK && PQtransactionStatus(c_) != PQTRANS_IDLE) {
      PQclear(PQexec(c_, "ROLLBACK"));
    }
  }

 private:
  struct Statement {
    std::string text;  // with $n placeholders
    std::string name;  // of the prepared statement
    std::string op;    // for the store-call metrics
    bool prepared = false;
  };

  Statement& Find(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    Statement st{NumberPlaceholders(sql), "s" + std::to_string(statements_.size()),
                 StatementOp(sql)};
    return statements_.emplace(sql, std::move(st)).first->second;
  }

  // Opens (or reopens after a failure) the connection.
  void Connect() {
    breaker_.Before();
    if (c_ && PQstatus(c_) == CONNECTION_OK) return;
    if (c_) PQfinish(c_);
    for (auto& [sql, st] : statements_) st.prepared = false;
    c_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(c_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(c_);
      PQfinish(c_);
      c_ = nullptr;
      breaker_.Failure();
      throw StoreError("postgres connect: " + Trim(msg));
    }
    // Server notices (e.g. "relation already exists, skipping") are not errors.
    PQsetNoticeProcessor(
        c_, [](void*, const char*) {}, nullptr);
  }

  SqlRows Rows(const PgResult& r, const std::string& sql) {
    Check(r, sql);
    const PGresult* raw = r.get();
    const int rows = PQntuples(raw), columns = PQnfields(raw);
    SqlRows out(columns);
    for (int i = 0; i < rows; ++i) {
      for (int c = 0; c < columns; ++c) {
        if (PQgetisnull(raw, i, c)) {
          out.Add(std::nullopt);
        } else {
          out.Add(std::string(PQgetvalue(raw, i, c), static_cast<size_t>(PQgetlength(raw, i, c))));
        }
      }
    }
    return out;
  }

  void Check(const PgResult& r, const std::string& sql) {
    if (PQstatus(c_) != CONNECTION_OK) {
      // The server went away mid-call: a store failure, not an SQL error.
      breaker_.Failure();
      throw StoreError("postgres: connection lost: " + Trim(PQerrorMessage(c_)));
    }
    breaker_.Success();
    const ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
    const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    const std::string code = state ? state : "";
    const std::string msg = Trim(PQerrorMessage(c_));
    // 23505 unique violation, 40001 serialization failure, 40P01 deadlock.
    if (code == "23505" || code == "40001" || code == "40P01") throw SqlRetry(msg);
    throw StoreError("postgres (" + code + "): " + msg + " [" + sql.substr(0, 60) + "]");
  }

  std::string conninfo_;
  CircuitBreaker& breaker_;
  PGconn* c_ = nullptr;
  std::unordered_map<std::string, Statement> statements_;
};

class PgEngine final : public SqlEngine {
 public:
  PgEngine(std::string conninfo, int pool_size)
      : conninfo_(std::move(conninfo)), pool_size_(pool_size) {}
  const SqlDialect& dialect() const override { return kPostgres; }
  std::unique_ptr<SqlSession> Connect() override {
    return std::make_unique<PgSession>(conninfo_, breaker_);
  }
  int pool_size() const override { return pool_size_; }
  const CircuitBreaker* breaker() const override { return &breaker_; }

 private:
  std::string conninfo_;
  int pool_size_;
  CircuitBreaker breaker_{"the metadata database"};
};

}  // namespace

std::unique_ptr<SqlEngine> OpenPgEngine(const std::string& conninfo, int pool_size) {
  return std::make_unique<PgEngine>(conninfo, pool_size);
}

}  // namespace imgd

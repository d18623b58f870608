#pragma once
// A Cassandra (CQL) session for the Cassandra MetaStore, over the Rust shim in cql_shim.h
// (ScyllaDB's driver). It connects lazily, prepares each statement once, times every call
// for the store metrics and traces, and guards the cluster with a circuit breaker.
//
// Contract:
// - Every call blocks (call from a blocking pool) and is thread-safe.
// - A cluster that cannot answer (down, timeout, too few replicas for the level) throws
//   StoreError (503) and counts as a breaker failure; a statement the cluster rejects
//   throws StoreError too, but the cluster is up. While the breaker is open calls throw at
//   once without a request.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/circuit_breaker.h"

struct ImgdCql;
struct ImgdCqlPrepared;

namespace imgd {

// A bound value: null, text, bigint, boolean, or a list of text (for IN).
using CqlParam = std::variant<std::nullptr_t, std::string, int64_t, bool, std::vector<std::string>>;

// How many replicas must answer. Plain reads and writes are LOCAL_QUORUM; the blob removal
// protocol uses EACH_QUORUM (see blob_record_store.h and docs/architecture.md).
enum class CqlLevel { kLocalQuorum, kEachQuorum, kLocalOne };
// The Paxos scope of a lightweight transaction: this datacenter's replicas, or all.
enum class CqlSerial { kLocal, kGlobal };

// One page of rows held in memory (statements here read one partition or one small page).
class CqlRows {
 public:
  struct Cell {
    bool null = true;
    bool is_text = false;  // text (else a number or boolean)
    std::string text;
    int64_t number = 0;
  };
  explicit CqlRows(size_t columns = 0) : columns_(columns) {}
  void Add(Cell c) { cells_.push_back(std::move(c)); }
  size_t size() const { return columns_ == 0 ? 0 : cells_.size() / columns_; }
  bool empty() const { return size() == 0; }
  bool IsNull(size_t row, size_t col) const { return At(row, col).null; }
  const std::string& Text(size_t row, size_t col) const { return At(row, col).text; }
  bool IsText(size_t row, size_t col) const { return At(row, col).is_text; }
  int64_t Int(size_t row, size_t col) const { return At(row, col).number; }
  bool Bool(size_t row, size_t col) const { return At(row, col).number != 0; }
  // The index of a named column (columns() when there is none).
  size_t Column(const std::string& name) const;
  size_t columns() const { return columns_; }
  std::vector<std::string> names;
  // A lightweight transaction's outcome: its first column, [applied]. When not applied,
  // the row's current values follow (read them by Column name).
  bool Applied() const { return !empty() && Bool(0, 0); }
  // The state for the next page ("" when this was the last).
  std::string paging_state;

 private:
  const Cell& At(size_t row, size_t col) const;
  size_t columns_;
  std::vector<Cell> cells_;
};

struct CqlEndpoint {
  std::string hosts;     // "h1:9042,h2:9042"
  std::string local_dc;  // requests go to this datacenter's nodes only
  std::string user;      // login (PasswordAuthenticator); empty: none
  std::string password;
  int64_t request_timeout_ms = 2000;
  int64_t connect_timeout_ms = 2000;
};

class CqlSession {
 public:
  explicit CqlSession(CqlEndpoint endpoint);
  CqlSession(const CqlSession&) = delete;
  CqlSession& operator=(const CqlSession&) = delete;
  ~CqlSession();

  // A read or plain write (idempotent: the driver may retry it after a timeout).
  CqlRows Run(const std::string& cql, const std::vector<CqlParam>& params,
              CqlLevel level = CqlLevel::kLocalQuorum);
  // One page of at most page_size rows from paging_state ("" = the first).
  CqlRows Page(const std::string& cql, const std::vector<CqlParam>& params, int page_size,
               const std::string& paging_state);
  // A lightweight transaction (IF ...): never retried blindly; see CqlRows::Applied.
  CqlRows Cas(const std::string& cql, const std::vector<CqlParam>& params,
              CqlSerial serial = CqlSerial::kLocal);
  // Schema statements, unprepared, then waits for schema agreement when asked.
  void Ddl(const std::string& cql);
  void AwaitSchemaAgreement();

  const CircuitBreaker& breaker() const { return breaker_; }

 private:
  CqlRows Execute(const std::string& cql, const std::vector<CqlParam>& params, int consistency,
                  int serial, bool idempotent, int page_size, const std::string& paging_state);
  ImgdCql* Connection();
  ImgdCqlPrepared* Prepared(ImgdCql* c, const std::string& cql, const std::string& op);
  // Throws StoreError for a shim error code, counting outages in the breaker.
  void Check(int rc, char* err, const std::string& what);

  CqlEndpoint endpoint_;
  CircuitBreaker breaker_{"the metadata database"};
  std::mutex mu_;
  ImgdCql* cql_ = nullptr;
  std::unordered_map<std::string, ImgdCqlPrepared*> prepared_;
};

}  // namespace imgd

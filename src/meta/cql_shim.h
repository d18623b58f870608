#pragma once
// C ABI of imgd's CQL shim (src/meta/cql_shim/, Rust over ScyllaDB's `scylla` driver).
//
// Contract for every function:
// - It blocks the calling thread until the cluster answers or the request timeout passes;
//   call it from a blocking pool, never from a network thread. All are thread-safe on one
//   ImgdCql (the driver multiplexes requests over its connections).
// - An int result is IMGD_CQL_OK or an error kind; on error *err receives a message the
//   caller frees with imgd_cql_string_free (err may be null).
// - Strings passed in are read during the call only.
#include <cstddef>
#include <cstdint>

extern "C" {

enum {
  IMGD_CQL_OK = 0,
  // The cluster could not be reached or could not answer in time (down, timeout, too few
  // replicas alive): a store outage, counted by the circuit breaker.
  IMGD_CQL_ERR_UNAVAILABLE = 1,
  // The cluster answered with an error about the request itself (bad statement, schema).
  IMGD_CQL_ERR_REQUEST = 2,
};

// Value kinds, in both directions. Result cells of other CQL types read as NULL.
enum {
  IMGD_CQL_NULL = 0,
  IMGD_CQL_TEXT = 1,       // text, ascii or blob: data/len (not NUL-terminated)
  IMGD_CQL_BIGINT = 2,     // bigint, counter or timestamp (ms): int_value
  IMGD_CQL_INT = 3,        // int: int_value
  IMGD_CQL_BOOL = 4,       // boolean: int_value 0 or 1
  IMGD_CQL_TEXT_LIST = 5,  // parameters only: data points at len ImgdCqlValue of kind TEXT
};

// Consistency levels, as numbered by the CQL protocol.
enum {
  IMGD_CQL_ONE = 1,
  IMGD_CQL_QUORUM = 4,
  IMGD_CQL_ALL = 5,
  IMGD_CQL_LOCAL_QUORUM = 6,
  IMGD_CQL_EACH_QUORUM = 7,
  IMGD_CQL_LOCAL_ONE = 10,
  // Serial consistency of lightweight transactions (0: the statement has none).
  IMGD_CQL_SERIAL = 8,
  IMGD_CQL_LOCAL_SERIAL = 9,
};

struct ImgdCqlValue {
  int32_t kind;
  int64_t int_value;
  const uint8_t* data;
  size_t len;
};

struct ImgdCql;
struct ImgdCqlPrepared;
struct ImgdCqlResult;

// Connects to the cluster through hosts ("h1:9042,h2:9042"), routing every request to
// local_dc's nodes only (token-aware; no failover to another datacenter, so LOCAL_* levels
// mean what they say), logging in as user with password (PasswordAuthenticator) unless
// user is null or empty. Fails when no host answers within connect_timeout_ms or the login
// is refused; the message names the hosts, never the password.
int imgd_cql_connect(const char* hosts, const char* local_dc, const char* user,
                     const char* password, int64_t request_timeout_ms, int64_t connect_timeout_ms,
                     ImgdCql** out, char** err);
// Closes the connections and stops the session's runtime. No call may be in flight.
void imgd_cql_close(ImgdCql* cql);

// Prepares a statement (`?` markers) on every node; free it with imgd_cql_prepared_free.
int imgd_cql_prepare(ImgdCql* cql, const char* statement, ImgdCqlPrepared** out, char** err);
void imgd_cql_prepared_free(ImgdCqlPrepared* prepared);

// Runs a prepared statement with n values at consistency (and serial_consistency for a
// lightweight transaction, else 0). idempotent lets the driver retry it after a timeout.
// page_size > 0 reads one page, starting at paging_state (len 0: the first page); else all
// rows. On success *out holds the rows (free with imgd_cql_result_free).
int imgd_cql_execute(ImgdCql* cql, const ImgdCqlPrepared* prepared, const ImgdCqlValue* values,
                     size_t n, int32_t consistency, int32_t serial_consistency, int32_t idempotent,
                     int32_t page_size, const uint8_t* paging_state, size_t paging_state_len,
                     ImgdCqlResult** out, char** err);
// Runs an unprepared statement without values (schema changes).
int imgd_cql_query(ImgdCql* cql, const char* statement, char** err);
// Waits until every reachable node reports the same schema version.
int imgd_cql_await_schema_agreement(ImgdCql* cql, char** err);

size_t imgd_cql_result_rows(const ImgdCqlResult* result);
size_t imgd_cql_result_columns(const ImgdCqlResult* result);
// The name of a column ("[applied]" first in a lightweight transaction's result); it lives
// as long as the result.
void imgd_cql_result_column_name(const ImgdCqlResult* result, size_t column, const uint8_t** data,
                                 size_t* len);
// The cell at (row, column); TEXT data lives as long as the result.
void imgd_cql_result_value(const ImgdCqlResult* result, size_t row, size_t column,
                           ImgdCqlValue* out);
// 1 when more pages follow; *data/*len then hold the state for the next call.
int imgd_cql_result_paging_state(const ImgdCqlResult* result, const uint8_t** data, size_t* len);
void imgd_cql_result_free(ImgdCqlResult* result);

void imgd_cql_string_free(char* s);
}

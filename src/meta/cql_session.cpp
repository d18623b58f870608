#include "meta/cql_session.h"

#include "core/errors.h"
#include "meta/cql_shim.h"
#include "obs/store_metrics.h"

namespace imgd {
namespace {

// What the metrics call a statement: "select images", "insert blobs", "update uploads cas",
// "batch images" (a batch by its first table).
std::string CqlOp(const std::string& cql, bool cas) {
  std::string op;
  if (cql.rfind("BEGIN", 0) == 0) {
    const std::string first = StatementOp(cql.substr(cql.find("BATCH") + 5));
    op = "batch " + first.substr(first.find(' ') + 1);
  } else {
    op = StatementOp(cql);
  }
  return cas ? op + " cas" : op;
}

struct ResultHolder {
  ImgdCqlResult* r = nullptr;
  ~ResultHolder() { imgd_cql_result_free(r); }
};

// Parameters as the shim reads them; list items point into the params, which outlive it.
struct BoundValues {
  std::vector<ImgdCqlValue> values;
  std::vector<std::vector<ImgdCqlValue>> lists;

  explicit BoundValues(const std::vector<CqlParam>& params) {
    values.reserve(params.size());
    lists.reserve(params.size());
    for (const auto& p : params) values.push_back(Bind(p));
  }

  static ImgdCqlValue Text(const std::string& s) {
    return {IMGD_CQL_TEXT, 0, reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }

  ImgdCqlValue Bind(const CqlParam& p) {
    if (const auto* s = std::get_if<std::string>(&p)) return Text(*s);
    if (const auto* n = std::get_if<int64_t>(&p)) return {IMGD_CQL_BIGINT, *n, nullptr, 0};
    if (const auto* b = std::get_if<bool>(&p)) return {IMGD_CQL_BOOL, *b ? 1 : 0, nullptr, 0};
    if (const auto* l = std::get_if<std::vector<std::string>>(&p)) {
      auto& items = lists.emplace_back();
      for (const auto& s : *l) items.push_back(Text(s));
      return {IMGD_CQL_TEXT_LIST, 0, reinterpret_cast<const uint8_t*>(items.data()), items.size()};
    }
    return {IMGD_CQL_NULL, 0, nullptr, 0};
  }
};

}  // namespace

const CqlRows::Cell& CqlRows::At(size_t row, size_t col) const {
  static const Cell kNull;
  const size_t i = row * columns_ + col;
  return col < columns_ && i < cells_.size() ? cells_[i] : kNull;
}

size_t CqlRows::Column(const std::string& name) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return i;
  }
  return columns_;
}

CqlSession::CqlSession(CqlEndpoint endpoint) : endpoint_(std::move(endpoint)) {}

CqlSession::~CqlSession() {
  for (auto& [text, p] : prepared_) imgd_cql_prepared_free(p);
  imgd_cql_close(cql_);
}

void CqlSession::Check(int rc, char* err, const std::string& what) {
  std::string msg = err ? err : "";
  imgd_cql_string_free(err);
  if (rc == IMGD_CQL_OK) {
    breaker_.Success();
    return;
  }
  if (rc == IMGD_CQL_ERR_UNAVAILABLE) {
    breaker_.Failure();
  } else {
    breaker_.Success();  // it answered
  }
  throw StoreError("cassandra: " + what + ": " + msg);
}

ImgdCql* CqlSession::Connection() {
  std::lock_guard lock(mu_);
  if (cql_) return cql_;
  char* err = nullptr;
  ImgdCql* c = nullptr;
  const int rc =
      imgd_cql_connect(endpoint_.hosts.c_str(), endpoint_.local_dc.c_str(), endpoint_.user.c_str(),
                       endpoint_.password.c_str(), endpoint_.request_timeout_ms,
                       endpoint_.connect_timeout_ms, &c, &err);
  Check(rc, err, "connect");
  cql_ = c;
  return cql_;
}

ImgdCqlPrepared* CqlSession::Prepared(ImgdCql* c, const std::string& cql, const std::string& op) {
  std::lock_guard lock(mu_);
  auto it = prepared_.find(cql);
  if (it != prepared_.end()) return it->second;
  StoreCallTimer timer("cassandra", "prepare");
  char* err = nullptr;
  ImgdCqlPrepared* p = nullptr;
  const int rc = imgd_cql_prepare(c, cql.c_str(), &p, &err);  // before Check reads err
  Check(rc, err, "prepare " + op);
  prepared_.emplace(cql, p);
  return p;
}

CqlRows CqlSession::Execute(const std::string& cql, const std::vector<CqlParam>& params,
                            int consistency, int serial, bool idempotent, int page_size,
                            const std::string& paging_state) {
  const std::string op = CqlOp(cql, serial != 0);
  breaker_.Before();
  ImgdCql* c = Connection();
  ImgdCqlPrepared* p = Prepared(c, cql, op);
  StoreCallTimer timer("cassandra", op);
  BoundValues bound(params);
  ResultHolder result;
  char* err = nullptr;
  const int rc = imgd_cql_execute(c, p, bound.values.data(), bound.values.size(), consistency,
                                  serial, idempotent ? 1 : 0, page_size,
                                  reinterpret_cast<const uint8_t*>(paging_state.data()),
                                  paging_state.size(), &result.r, &err);
  Check(rc, err, op);
  const size_t rows = imgd_cql_result_rows(result.r);
  const size_t columns = imgd_cql_result_columns(result.r);
  CqlRows out(columns);
  for (size_t j = 0; j < columns; ++j) {
    const uint8_t* name = nullptr;
    size_t len = 0;
    imgd_cql_result_column_name(result.r, j, &name, &len);
    out.names.emplace_back(reinterpret_cast<const char*>(name), len);
  }
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < columns; ++j) {
      ImgdCqlValue v;
      imgd_cql_result_value(result.r, i, j, &v);
      CqlRows::Cell cell;
      cell.null = v.kind == IMGD_CQL_NULL;
      if (v.kind == IMGD_CQL_TEXT) {
        cell.is_text = true;
        cell.text.assign(reinterpret_cast<const char*>(v.data), v.len);
      } else {
        cell.number = v.int_value;
      }
      out.Add(std::move(cell));
    }
  }
  const uint8_t* state = nullptr;
  size_t state_len = 0;
  if (imgd_cql_result_paging_state(result.r, &state, &state_len) != 0) {
    out.paging_state.assign(reinterpret_cast<const char*>(state), state_len);
  }
  return out;
}

CqlRows CqlSession::Run(const std::string& cql, const std::vector<CqlParam>& params,
                        CqlLevel level) {
  const int consistency = level == CqlLevel::kEachQuorum ? IMGD_CQL_EACH_QUORUM
                          : level == CqlLevel::kLocalOne ? IMGD_CQL_LOCAL_ONE
                                                         : IMGD_CQL_LOCAL_QUORUM;
  return Execute(cql, params, consistency, 0, true, 0, "");
}

CqlRows CqlSession::Page(const std::string& cql, const std::vector<CqlParam>& params, int page_size,
                         const std::string& paging_state) {
  return Execute(cql, params, IMGD_CQL_LOCAL_QUORUM, 0, true, page_size, paging_state);
}

CqlRows CqlSession::Cas(const std::string& cql, const std::vector<CqlParam>& params,
                        CqlSerial serial) {
  // The commit phase of a LOCAL_SERIAL transaction is written at LOCAL_QUORUM; a SERIAL one
  // at QUORUM, so every datacenter's later SERIAL read sees it.
  const bool global = serial == CqlSerial::kGlobal;
  return Execute(cql, params, global ? IMGD_CQL_QUORUM : IMGD_CQL_LOCAL_QUORUM,
                 global ? IMGD_CQL_SERIAL : IMGD_CQL_LOCAL_SERIAL, false, 0, "");
}

void CqlSession::Ddl(const std::string& cql) {
  breaker_.Before();
  ImgdCql* c = Connection();
  StoreCallTimer timer("cassandra", "schema");
  char* err = nullptr;
  const int rc = imgd_cql_query(c, cql.c_str(), &err);
  Check(rc, err, "schema");
}

void CqlSession::AwaitSchemaAgreement() {
  ImgdCql* c = Connection();
  char* err = nullptr;
  const int rc = imgd_cql_await_schema_agreement(c, &err);
  Check(rc, err, "schema agreement");
}

}  // namespace imgd

#include "obs/store_metrics.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <vector>

#include "obs/spans.h"

namespace imgd {
namespace {

std::atomic<Metrics*> g_metrics{nullptr};

// The first words of a statement, lowercased (separators: space, parentheses, commas).
std::vector<std::string> Words(std::string_view sql, size_t max) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : sql) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isspace(c) || c == '(' || c == ')' || c == ',' || c == ';') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      if (out.size() >= max) return out;
    } else {
      cur += static_cast<char>(std::tolower(c));
    }
  }
  if (!cur.empty() && out.size() < max) out.push_back(std::move(cur));
  return out;
}

}  // namespace

void SetStoreMetrics(Metrics* metrics) { g_metrics.store(metrics); }

std::string StatementOp(std::string_view sql) {
  const std::vector<std::string> w = Words(sql, 64);
  if (w.empty()) return "empty";
  std::string op = w[0];
  // The table follows FROM (select, delete), INTO (insert), or the verb itself (update).
  const char* marker = op == "insert"                     ? "into"
                       : op == "select" || op == "delete" ? "from"
                                                          : nullptr;
  if (op == "update" && w.size() > 1) {
    op += " " + w[1];
  } else if (marker) {
    for (size_t i = 1; i + 1 < w.size(); ++i) {
      if (w[i] == marker) {
        op += " " + w[i + 1];
        break;
      }
    }
  }
  if (op.size() > 40) op.resize(40);
  return op;
}

StoreCallTimer::StoreCallTimer(const char* store, std::string op)
    : store_(store),
      op_(std::move(op)),
      exceptions_at_start_(std::uncaught_exceptions()),
      started_(std::chrono::steady_clock::now()),
      trace_(CurrentTrace()) {
  if (trace_) {
    span_id_ = RandomHexId(16);
    if (Recording(trace_)) started_unix_ns_ = UnixNanos();
  }
}

std::string StoreCallTimer::Traceparent() const {
  return trace_ ? imgd::Traceparent(*trace_, span_id_) : std::string();
}

StoreCallTimer::~StoreCallTimer() {
  const bool failed = !expected_ && std::uncaught_exceptions() > exceptions_at_start_;
  if (started_unix_ns_ != 0 && Recording(trace_)) {
    Span s;
    s.trace_id = trace_->trace_id;
    s.span_id = span_id_;
    s.parent_id = trace_->span_id;
    s.name = std::string(store_) + " " + op_;
    s.kind = Span::Kind::kClient;
    s.start_unix_ns = started_unix_ns_;
    s.end_unix_ns = UnixNanos();
    s.error = failed;
    s.text_attributes = {{"db.system", store_}, {"imgd.store.operation", op_}};
    ExportSpan(std::move(s));
  }
  Metrics* m = g_metrics.load(std::memory_order_relaxed);
  if (!m) return;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const Labels labels{{"store", store_}, {"op", op_}};
  m->Observe("imgd_store_operation_duration_seconds", labels, secs);
  if (failed) m->Inc("imgd_store_errors_total", labels);
}

}  // namespace imgd

// The SQL MetaStore's edge purge outbox (see purge_outbox_store.h): one row per (edge, purge).
#include "meta/sql_meta_store.h"

namespace imgd {
namespace {

constexpr const char* kPurgeColumns = "id, edge, surrogate_keys, created_ms, due_ms, attempts";

PurgeTask ReadPurge(const SqlRows& r, size_t i) {
  return {r.Text(i, 0), r.Text(i, 1), r.Text(i, 2),
          r.Int(i, 3),  r.Int(i, 4),  static_cast<int>(r.Int(i, 5))};
}

}  // namespace

void SqlMetaStore::AddPurges(const std::vector<PurgeTask>& tasks) {
  if (tasks.empty()) return;
  Run(Txn::kWrite, [&](SqlSession& s) {
    for (const auto& t : tasks) {
      s.Exec(std::string("INSERT INTO purge_outbox(") + kPurgeColumns +
                 ") VALUES (?,?,?,?,?,?) ON CONFLICT (edge, id) DO UPDATE SET surrogate_keys = "
                 "excluded.surrogate_keys, due_ms = excluded.due_ms, attempts = excluded.attempts",
             {t.id, t.edge, t.keys, t.created_ms, t.due_ms, int64_t{t.attempts}});
    }
  });
}

std::vector<PurgeTask> SqlMetaStore::PendingPurges(const std::string& edge, int limit) {
  return Run([&](SqlSession& s) {
    auto r = s.Exec(std::string("SELECT ") + kPurgeColumns +
                        " FROM purge_outbox WHERE edge = ? ORDER BY id LIMIT ?",
                    {edge, int64_t{limit}});
    std::vector<PurgeTask> out;
    for (size_t i = 0; i < r.size(); ++i) out.push_back(ReadPurge(r, i));
    return out;
  });
}

void SqlMetaStore::RemovePurge(const PurgeTask& task) {
  Run([&](SqlSession& s) {
    s.Exec("DELETE FROM purge_outbox WHERE edge = ? AND id = ?", {task.edge, task.id});
  });
}

void SqlMetaStore::RetryPurge(const PurgeTask& task, int64_t due_ms, int attempts) {
  Run([&](SqlSession& s) {
    s.Exec("UPDATE purge_outbox SET due_ms = ?, attempts = ? WHERE edge = ? AND id = ?",
           {due_ms, int64_t{attempts}, task.edge, task.id});
  });
}

std::vector<std::string> SqlMetaStore::PurgeEdges() {
  return Run([&](SqlSession& s) {
    auto r = s.Exec("SELECT DISTINCT edge FROM purge_outbox ORDER BY edge");
    std::vector<std::string> out;
    for (size_t i = 0; i < r.size(); ++i) out.push_back(r.Text(i, 0));
    return out;
  });
}

}  // namespace imgd

// The Cassandra MetaStore's edge purge outbox (see purge_outbox_store.h): one row per
// (edge, purge) in partitions (edge, shard), so an edge's tasks are read from 16 small
// partitions and a busy outbox spreads over the cluster. Rows are deleted on
// acknowledgement; the table's short gc_grace_seconds keeps those tombstones few.
#include <algorithm>

#include "meta/cassandra_meta_store.h"

namespace imgd {
namespace {

constexpr int64_t kPurgeShards = 16;

}  // namespace

void CassandraMetaStore::AddPurges(const std::vector<PurgeTask>& tasks) {
  for (const auto& t : tasks) {
    cql_.Run("INSERT INTO " + T("purge_outbox") +
                 " (edge, shard, id, surrogate_keys, created_ms, due_ms, attempts) VALUES "
                 "(?, ?, ?, ?, ?, ?, ?)",
             {t.edge, Shard(t.id), t.id, t.keys, t.created_ms, t.due_ms, int64_t{t.attempts}});
  }
}

std::vector<PurgeTask> CassandraMetaStore::PendingPurges(const std::string& edge, int limit) {
  std::vector<PurgeTask> out;
  for (int64_t shard = 0; shard < kPurgeShards; ++shard) {
    auto r = cql_.Run("SELECT id, surrogate_keys, created_ms, due_ms, attempts FROM " +
                          T("purge_outbox") + " WHERE edge = ? AND shard = ? LIMIT ?",
                      {edge, shard, int64_t{limit}});
    for (size_t i = 0; i < r.size(); ++i) {
      out.push_back({r.Text(i, 0), edge, r.Text(i, 1), r.Int(i, 2), r.Int(i, 3),
                     static_cast<int>(r.Int(i, 4))});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const PurgeTask& a, const PurgeTask& b) { return a.id < b.id; });
  if (out.size() > static_cast<size_t>(limit)) out.resize(static_cast<size_t>(limit));
  return out;
}

void CassandraMetaStore::RemovePurge(const PurgeTask& task) {
  cql_.Run("DELETE FROM " + T("purge_outbox") + " WHERE edge = ? AND shard = ? AND id = ?",
           {task.edge, Shard(task.id), task.id});
}

void CassandraMetaStore::RetryPurge(const PurgeTask& task, int64_t due_ms, int attempts) {
  // The whole row: if another node removed it meanwhile, it comes back whole and is sent
  // once more (harmless), never as a row without its keys.
  PurgeTask again = task;
  again.due_ms = due_ms;
  again.attempts = attempts;
  AddPurges({again});
}

std::vector<std::string> CassandraMetaStore::PurgeEdges() {
  auto r = cql_.Run("SELECT DISTINCT edge, shard FROM " + T("purge_outbox"), {});
  std::vector<std::string> out;
  for (size_t i = 0; i < r.size(); ++i) out.push_back(r.Text(i, 0));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace imgd

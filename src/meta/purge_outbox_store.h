#pragma once
// The edge purge outbox: purges of cached copies (by surrogate key) that some edge has not
// acknowledged yet. A purge is recorded before the change that needs it, so no crash or
// edge outage can lose it; the EdgePurger delivers it and removes it on acknowledgement.
//
// One row per (purge, edge): each edge acknowledges on its own, and an edge that is down
// keeps only its own rows. Delivering a row twice (two nodes, a retry after a lost answer)
// is harmless: purging is idempotent. A store without transactions needs nothing more than
// single-row writes; rows are read per edge, oldest first, from a few small partitions.
//
// Contract for every implementation (see meta_store.h): methods block (call them from a
// blocking pool), are thread-safe and safe across nodes sharing the database, and throw
// StoreError (503) on store failures.
#include <cstdint>
#include <string>
#include <vector>

namespace imgd {

struct PurgeTask {
  std::string id;    // unique, and sorts by creation time (see NewPurgeId)
  std::string edge;  // the edge's name (see EdgePurgeOptions::edges)
  std::string keys;  // surrogate keys, space-separated
  int64_t created_ms = 0;
  int64_t due_ms = 0;  // not sent before this
  int attempts = 0;    // failed deliveries so far
};

class PurgeOutboxStore {
 public:
  virtual ~PurgeOutboxStore() = default;

  // Records the tasks; durable when it returns (an id seen again is overwritten).
  virtual void AddPurges(const std::vector<PurgeTask>& tasks) = 0;
  // Up to limit of edge's tasks, due or not, oldest (by id) first.
  virtual std::vector<PurgeTask> PendingPurges(const std::string& edge, int limit) = 0;
  // The edge acknowledged the task: it is gone.
  virtual void RemovePurge(const PurgeTask& task) = 0;
  // A delivery failed: the task is tried again at due_ms, with attempts as given.
  virtual void RetryPurge(const PurgeTask& task, int64_t due_ms, int attempts) = 0;
  // The edges that have tasks (an edge no longer configured is found this way).
  virtual std::vector<std::string> PurgeEdges() = 0;
};

}  // namespace imgd

#include "service/transform_pool.h"

namespace imgd {

TransformPool::TransformPool(TransformPoolOptions opts, Metrics& metrics)
    : opts_(opts), metrics_(metrics), pool_(static_cast<size_t>(std::max(1, opts.threads))) {}

TransformPool::~TransformPool() { pool_.join(); }

void TransformPool::Admit(uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (in_flight_.load() >= opts_.threads + opts_.max_queued) {
    metrics_.Inc("imgd_transform_rejects_total", {{"reason", "queue_full"}});
    throw Unavailable("too many transforms in progress; retry shortly", 1);
  }
  if (bytes > opts_.memory_budget) {
    // Could never run within the budget, idle or not: the request is too big, not early.
    metrics_.Inc("imgd_transform_rejects_total", {{"reason", "too_large"}});
    throw Error(ErrorCode::kInvalidArgument, "transform-too-large",
                "making this variant would need more memory than all transforms together "
                "may use; ask for a smaller size");
  }
  const uint64_t reserved = reserved_.load();
  if (reserved + bytes > opts_.memory_budget) {
    metrics_.Inc("imgd_transform_rejects_total", {{"reason", "memory"}});
    throw Unavailable("transforms in progress use the memory budget; retry shortly", 1);
  }
  in_flight_.fetch_add(1);
  reserved_.fetch_add(bytes);
}

void TransformPool::Release(uint64_t bytes) {
  std::lock_guard lock(mu_);
  in_flight_.fetch_sub(1);
  reserved_.fetch_sub(bytes);
}

}  // namespace imgd

#pragma once
// The bounded pool transforms run on. Admission is decided at once, never by waiting:
// a job is refused (503 with Retry-After) when `threads + max_queued` jobs are already in,
// or when the memory predicted for the jobs in plus this one would pass the budget. A job
// predicted to need more than the whole budget is never admitted, idle or not (400).
// A job still queued when its deadline passes is dropped with 503 instead of started.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "core/errors.h"
#include "core/offload.h"
#include "image/deadline.h"
#include "obs/metrics.h"

namespace imgd {

struct TransformPoolOptions {
  int threads = 2;
  int max_queued = 64;
  uint64_t memory_budget = 1ull << 30;
};

class TransformPool {
 public:
  TransformPool(TransformPoolOptions opts, Metrics& metrics);
  ~TransformPool();

  template <typename F>
  boost::asio::awaitable<std::invoke_result_t<F&>> Run(uint64_t predicted_bytes, Deadline deadline,
                                                       F fn) {
    Admit(predicted_bytes);
    Ticket ticket(*this, predicted_bytes);
    const auto queued_at = std::chrono::steady_clock::now();
    co_return co_await Offload(pool_, [&, fn = std::move(fn)]() mutable {
      const auto waited = std::chrono::steady_clock::now() - queued_at;
      metrics_.Observe("imgd_transform_queue_wait_seconds", {},
                       std::chrono::duration<double>(waited).count());
      running_.fetch_add(1);
      struct Finished {
        std::atomic<int>& running;
        ~Finished() { running.fetch_sub(1); }
      } finished{running_};
      if (deadline.Passed()) {
        metrics_.Inc("imgd_transform_rejects_total", {{"reason", "timeout"}});
        throw Unavailable("the transform waited in the queue longer than its time limit", 1);
      }
      return fn();
    });
  }

  int in_flight() const { return in_flight_.load(); }
  int running() const { return running_.load(); }
  uint64_t reserved_bytes() const { return reserved_.load(); }

 private:
  // Releases the job's slot and memory, whatever happens to it.
  struct Ticket {
    TransformPool& pool;
    uint64_t bytes;
    Ticket(TransformPool& p, uint64_t b) : pool(p), bytes(b) {}
    ~Ticket() { pool.Release(bytes); }
  };
  void Admit(uint64_t bytes);  // throws Unavailable
  void Release(uint64_t bytes);

  TransformPoolOptions opts_;
  Metrics& metrics_;
  boost::asio::thread_pool pool_;
  std::mutex mu_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> running_{0};
  std::atomic<uint64_t> reserved_{0};
};

}  // namespace imgd

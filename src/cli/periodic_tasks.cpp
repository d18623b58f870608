#include "cli/periodic_tasks.h"

#include <algorithm>

#include "obs/log.h"

namespace imgd::cli {

void PeriodicTasks::Add(std::string name, std::chrono::steady_clock::duration interval,
                        std::function<void()> fn) {
  tasks_.push_back({std::move(name), interval, std::move(fn), {}});
}

void PeriodicTasks::Start() {
  if (tasks_.empty() || thread_.joinable()) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& t : tasks_) t.due = now + t.interval;
  thread_ = std::thread([this] { Loop(); });
}

void PeriodicTasks::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicTasks::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto next = std::min_element(tasks_.begin(), tasks_.end(),
                                 [](const Task& a, const Task& b) { return a.due < b.due; });
    if (cv_.wait_until(lock, next->due, [this] { return stopped_; })) return;
    if (std::chrono::steady_clock::now() < next->due) continue;
    lock.unlock();
    try {
      next->fn();
    } catch (const std::exception& e) {
      LogJson("error", "periodic task failed", {{"task", next->name}, {"error", e.what()}});
    }
    lock.lock();
    next->due = std::chrono::steady_clock::now() + next->interval;
  }
}

}  // namespace imgd::cli

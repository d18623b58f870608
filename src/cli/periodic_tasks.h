#pragma once
// Maintenance that runs every so often while the server serves (the sweep, memory trim), on
// one thread of its own: the network threads and the request pools never wait for it.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace imgd::cli {

class PeriodicTasks {
 public:
  PeriodicTasks() = default;
  ~PeriodicTasks() { Stop(); }
  PeriodicTasks(const PeriodicTasks&) = delete;
  PeriodicTasks& operator=(const PeriodicTasks&) = delete;

  // fn runs every `interval`, first one interval after Start. Call before Start. An
  // exception from fn is logged, and the task runs again next time.
  void Add(std::string name, std::chrono::steady_clock::duration interval,
           std::function<void()> fn);
  void Start();
  // Returns once no task runs or will (a running one finishes first). Idempotent.
  void Stop();

 private:
  void Loop();

  struct Task {
    std::string name;
    std::chrono::steady_clock::duration interval;
    std::function<void()> fn;
    std::chrono::steady_clock::time_point due;
  };
  std::vector<Task> tasks_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace imgd::cli

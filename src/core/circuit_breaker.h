#pragma once
// Stops hammering a store that is down: after `threshold` consecutive failures the circuit
// opens and calls fail at once (StoreError → 503) for `cooldown`; then one call is let
// through (half-open) and its outcome closes or reopens the circuit. Thread-safe.
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

namespace imgd {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

  explicit CircuitBreaker(std::string name, int threshold = 5,
                          std::chrono::milliseconds cooldown = std::chrono::milliseconds(2000),
                          std::function<Clock::time_point()> now = Clock::now);

  // Before a call: throws StoreError while the circuit is open (no call is made).
  void Before();
  // After a call that reached the store (whatever its answer).
  void Success();
  // After a call that could not reach the store (connection refused, timeout...).
  void Failure();

  State state() const { return state_.load(); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  int threshold_;
  std::chrono::milliseconds cooldown_;
  std::function<Clock::time_point()> now_;
  std::mutex mu_;
  std::atomic<State> state_{State::kClosed};
  int failures_ = 0;
  Clock::time_point opened_at_{};
  bool probe_in_flight_ = false;
};

}  // namespace imgd

#include "core/circuit_breaker.h"

#include "core/errors.h"

namespace imgd {

CircuitBreaker::CircuitBreaker(std::string name, int threshold, std::chrono::milliseconds cooldown,
                               std::function<Clock::time_point()> now)
    : name_(std::move(name)), threshold_(threshold), cooldown_(cooldown), now_(std::move(now)) {}

void CircuitBreaker::Before() {
  std::lock_guard lock(mu_);
  switch (state_.load()) {
    case State::kClosed:
      return;
    case State::kOpen:
      if (now_() - opened_at_ < cooldown_) {
        throw StoreError(name_ + " is unavailable (circuit open after repeated failures)");
      }
      state_ = State::kHalfOpen;
      probe_in_flight_ = true;
      return;  // this call is the probe
    case State::kHalfOpen:
      if (probe_in_flight_) {
        throw StoreError(name_ + " is unavailable (circuit half-open, probing)");
      }
      probe_in_flight_ = true;
      return;
  }
}

void CircuitBreaker::Success() {
  std::lock_guard lock(mu_);
  failures_ = 0;
  probe_in_flight_ = false;
  state_ = State::kClosed;
}

void CircuitBreaker::Failure() {
  std::lock_guard lock(mu_);
  probe_in_flight_ = false;
  if (state_.load() == State::kHalfOpen || ++failures_ >= threshold_) {
    state_ = State::kOpen;
    opened_at_ = now_();
  }
}

}  // namespace imgd

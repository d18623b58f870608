#pragma once
// Token buckets keyed by a string (a client address, an API key). Each key may spend `rate`
// units per second on average with bursts up to `burst`; a request whose cost is more than
// what is left is refused with the time until it could pass. A cost above the burst passes
// when the bucket is full and leaves it in debt, so no single request is impossible. Thread-safe
// (sharded locks); at most max_keys buckets are kept, dropping buckets that have refilled
// completely first, so memory stays bounded under a flood of distinct keys.
#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace imgd {

struct RateDecision {
  bool allowed = true;
  double limit = 0;          // the burst size (RateLimit-Limit)
  double remaining = 0;      // units left after this request (never below 0 when reported)
  double reset_s = 0;        // seconds until the bucket is full again
  double retry_after_s = 0;  // when refused: seconds until this request could pass
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // rate <= 0 turns the limiter off (every request allowed).
  RateLimiter(double rate_per_s, double burst, size_t max_keys = 100000);

  bool enabled() const { return rate_ > 0; }
  double rate() const { return rate_; }
  double burst() const { return burst_; }

  // Spends cost units of key's bucket if it is not empty.
  RateDecision Take(std::string_view key, double cost = 1, Clock::time_point now = Clock::now());
  // Buckets held now (for tests and metrics).
  size_t size() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;
  };
  static constexpr size_t kShards = 16;
  void Evict(Shard& shard, Clock::time_point now);

  const double rate_;
  const double burst_;
  const size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace imgd

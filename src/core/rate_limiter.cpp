#include "core/rate_limiter.h"

#include <algorithm>
#include <functional>

namespace imgd {

RateLimiter::RateLimiter(double rate_per_s, double burst, size_t max_keys)
    : rate_(rate_per_s),
      burst_(std::max(burst, 1.0)),
      max_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

RateDecision RateLimiter::Take(std::string_view key, double cost, Clock::time_point now) {
  RateDecision d;
  d.limit = burst_;
  if (rate_ <= 0) {
    d.remaining = burst_;
    return d;
  }
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) Evict(shard, now);
    it = shard.buckets.emplace(std::string(key), Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.updated).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.updated = now;
  }
  // Allowed while not in debt; the cost may take the bucket below zero (see the header).
  if (b.tokens >= std::min(cost, burst_) && b.tokens > 0) {
    b.tokens -= cost;
    d.allowed = true;
  } else {
    d.allowed = false;
    d.retry_after_s = (std::min(cost, burst_) - b.tokens) / rate_;
  }
  d.remaining = std::max(0.0, b.tokens);
  d.reset_s = (burst_ - b.tokens) / rate_;
  return d;
}

void RateLimiter::Evict(Shard& shard, Clock::time_point now) {
  // Full buckets carry no state worth keeping; if none is full, drop the oldest half.
  std::erase_if(shard.buckets, [&](const auto& kv) {
    const double elapsed = std::chrono::duration<double>(now - kv.second.updated).count();
    return kv.second.tokens + elapsed * rate_ >= burst_;
  });
  if (shard.buckets.size() < max_per_shard_) return;
  std::vector<Clock::time_point> times;
  times.reserve(shard.buckets.size());
  for (const auto& kv : shard.buckets) times.push_back(kv.second.updated);
  auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), mid, times.end());
  const auto cutoff = *mid;
  std::erase_if(shard.buckets, [&](const auto& kv) { return kv.second.updated <= cutoff; });
}

size_t RateLimiter::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace imgd

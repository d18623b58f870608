// Token buckets: steady rate, bursts, debt for large costs, bounded memory. Time is passed
// in, so no test waits.
#include "core/rate_limiter.h"

#include <gtest/gtest.h>

using namespace imgd;
using namespace std::chrono_literals;

TEST(RateLimiter, AllowsTheBurstThenRefusesWithRetryAfter) {
  RateLimiter rl(10, 5);
  const auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.Take("ip", 1, t0).allowed) << i;
  RateDecision d = rl.Take("ip", 1, t0);
  EXPECT_FALSE(d.allowed);
  EXPECT_NEAR(d.retry_after_s, 0.1, 1e-9);  // one token at 10/s
  EXPECT_EQ(d.limit, 5);
  EXPECT_EQ(d.remaining, 0);
  // 100 ms later exactly one more passes.
  EXPECT_TRUE(rl.Take("ip", 1, t0 + 100ms).allowed);
  EXPECT_FALSE(rl.Take("ip", 1, t0 + 100ms).allowed);
}

TEST(RateLimiter, KeysAreIndependent) {
  RateLimiter rl(1, 1);
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_TRUE(rl.Take("a", 1, t0).allowed);
  EXPECT_FALSE(rl.Take("a", 1, t0).allowed);
  EXPECT_TRUE(rl.Take("b", 1, t0).allowed);
}

TEST(RateLimiter, SustainedRateMatchesTheConfiguredRate) {
  RateLimiter rl(50, 10);
  auto t = RateLimiter::Clock::now();
  int allowed = 0;
  for (int i = 0; i < 10000; ++i) {  // 10 s of attempts every ms
    t += 1ms;
    if (rl.Take("k", 1, t).allowed) ++allowed;
  }
  EXPECT_NEAR(allowed, 10 + 50 * 10, 2);
}

TEST(RateLimiter, ALargeCostPassesOnceAndLeavesDebt) {
  RateLimiter rl(1000, 1000);  // e.g. bytes
  const auto t0 = RateLimiter::Clock::now();
  RateDecision big = rl.Take("key", 5000, t0);
  EXPECT_TRUE(big.allowed);
  RateDecision next = rl.Take("key", 1, t0);
  EXPECT_FALSE(next.allowed);
  EXPECT_NEAR(next.retry_after_s, 4.001, 1e-6);  // pay back 4000 of debt, then 1
  EXPECT_TRUE(rl.Take("key", 1, t0 + 4002ms).allowed);
}

TEST(RateLimiter, MemoryStaysBoundedUnderAFloodOfKeys) {
  RateLimiter rl(1, 1, 1600);
  const auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 100000; ++i) rl.Take("client-" + std::to_string(i), 1, t0);
  EXPECT_LE(rl.size(), 1600u);
}

TEST(RateLimiter, ZeroRateIsOff) {
  RateLimiter rl(0, 0);
  EXPECT_FALSE(rl.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(rl.Take("x").allowed);
}

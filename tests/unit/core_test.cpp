#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/circuit_breaker.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/ids.h"

using namespace imgd;

TEST(Ids, UuidV7IsCanonicalVersion7AndMonotonic) {
  std::string prev;
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {
    std::string id = NewUuidV7();
    ASSERT_TRUE(IsUuid(id)) << id;
    EXPECT_EQ(id[14], '7');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
    EXPECT_GT(id, prev);
    EXPECT_TRUE(seen.insert(id).second);
    prev = id;
  }
}

TEST(Ids, RequestIdsAreVersion7UuidsAndDistinctAcrossThreads) {
  std::set<std::string> seen;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        std::string id = NewRequestId();
        std::lock_guard lock(mu);
        ASSERT_TRUE(IsUuid(id)) << id;
        EXPECT_EQ(id[14], '7');
        EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
        EXPECT_TRUE(seen.insert(id).second) << id;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 8000u);
}

TEST(Ids, IsUuidRejectsOtherShapes) {
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("../../etc/passwd"));
  EXPECT_FALSE(IsUuid("0190f0a0-0000-7000-8000-00000000000g"));
  EXPECT_FALSE(IsUuid("0190f0a0x0000-7000-8000-000000000000"));
  EXPECT_TRUE(IsUuid("0190f0a0-0000-7000-8000-000000000000"));
}

TEST(Ids, Base64UrlRoundTrip) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\xfe\x00\x01 binary"}) {
    std::string out;
    ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(s), out));
    EXPECT_EQ(out, s);
  }
  std::string out;
  EXPECT_FALSE(Base64UrlDecode("a", out));
  EXPECT_FALSE(Base64UrlDecode("ab/=", out));
  EXPECT_EQ(RandomToken(32).size(), 43u);
}

TEST(Hash, Sha256KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.Update("a", 1);
  h.Update("bc", 2);
  EXPECT_EQ(h.FinalHex(), Sha256Hex("abc"));
}

TEST(Clock, FormatsRfc3339Milliseconds) {
  EXPECT_EQ(FormatIsoMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIsoMs(1795591173123), "2026-11-25T07:19:33.123Z");
  // The per-second part is cached: the next second and back again stay right.
  EXPECT_EQ(FormatIsoMs(1795591173999), "2026-11-25T07:19:33.999Z");
  EXPECT_EQ(FormatIsoMs(1795591174000), "2026-11-25T07:19:34.000Z");
  EXPECT_EQ(FormatIsoMs(1795591173005), "2026-11-25T07:19:33.005Z");
}

TEST(CircuitBreaker, OpensAfterFailuresFailsFastThenProbes) {
  using namespace std::chrono_literals;
  imgd::CircuitBreaker::Clock::time_point now{};
  imgd::CircuitBreaker b("db", 3, 2000ms, [&] { return now; });
  using State = imgd::CircuitBreaker::State;
  b.Before();
  b.Failure();
  b.Failure();
  EXPECT_EQ(b.state(), State::kClosed);
  b.Success();  // a success resets the count
  for (int i = 0; i < 3; ++i) {
    b.Before();
    b.Failure();
  }
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_THROW(b.Before(), imgd::StoreError);  // fails fast, no call made
  now += 1999ms;
  EXPECT_THROW(b.Before(), imgd::StoreError);
  now += 2ms;
  b.Before();  // the probe
  EXPECT_EQ(b.state(), State::kHalfOpen);
  EXPECT_THROW(b.Before(), imgd::StoreError);  // one probe at a time
  b.Failure();                                 // probe failed: open again
  EXPECT_EQ(b.state(), State::kOpen);
  now += 2001ms;
  b.Before();
  b.Success();  // probe succeeded: closed
  EXPECT_EQ(b.state(), State::kClosed);
  b.Before();
}

TEST(Clock, CoarseSteadyNowIsAtMostATickBehind) {
  for (int i = 0; i < 1000; ++i) {
    const auto before = std::chrono::steady_clock::now();
    const auto coarse = imgd::CoarseSteadyNow();
    const auto after = std::chrono::steady_clock::now();
    ASSERT_LE(coarse, after);
    // A tick is 1-10 ms (CONFIG_HZ 1000-100); 50 ms leaves room for a descheduled thread.
    ASSERT_GE(coarse, before - std::chrono::milliseconds(50));
  }
}

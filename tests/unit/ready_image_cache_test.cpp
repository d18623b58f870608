// The cache of ready image records on the content read path: what it keeps, for how long,
// and what drops it.
#include "service/ready_image_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace imgd;
using namespace std::chrono_literals;

namespace {

Image ReadyImage(const std::string& id) {
  Image im;
  im.id = id;
  im.sha256 = std::string(64, 'a');
  im.status = kStatusReady;
  return im;
}

TEST(ReadyImageCache, KeepsReadyRecordsUntilErased) {
  ReadyImageCache cache(60s, 10);
  cache.Put(ReadyImage("a"));
  ASSERT_TRUE(cache.Get("a"));
  EXPECT_EQ(cache.Get("a")->sha256, std::string(64, 'a'));
  EXPECT_FALSE(cache.Get("b"));
  cache.Erase("a");
  EXPECT_FALSE(cache.Get("a"));
}

TEST(ReadyImageCache, NeverKeepsPendingImages) {
  ReadyImageCache cache(60s, 10);
  Image pending = ReadyImage("p");
  pending.status = "pending";
  cache.Put(pending);
  EXPECT_FALSE(cache.Get("p"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ReadyImageCache, EntriesExpireAfterTheTtl) {
  ReadyImageCache cache(1ms, 10);
  cache.Put(ReadyImage("a"));
  const auto until = std::chrono::steady_clock::now() + 2ms;
  while (std::chrono::steady_clock::now() < until) {
  }  // a time-based rule: waiting past the ttl is the point of this test
  EXPECT_FALSE(cache.Get("a"));
}

TEST(ReadyImageCache, HoldsAtMostCapacityOldestFirstOut) {
  ReadyImageCache cache(60s, 3);
  for (const char* id : {"a", "b", "c", "d"}) cache.Put(ReadyImage(id));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.Get("a"));
  EXPECT_TRUE(cache.Get("d"));
  cache.Put(ReadyImage("b"));  // a refresh does not grow it
  EXPECT_EQ(cache.size(), 3u);
}

TEST(ReadyImageCache, ZeroTtlTurnsItOff) {
  ReadyImageCache cache(0ms, 10);
  cache.Put(ReadyImage("a"));
  EXPECT_FALSE(cache.Get("a"));
}

}  // namespace

// The in-memory caches on the read path: what they keep, for how long, and what drops them.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <chrono>
#include <thread>

#include "obs/log.h"
#include "obs/store_metrics.h"
#include "service/ready_image_cache.h"

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

}  // namespace

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

TEST(Log, JsonStringsEscapeQuotesControlsAndNonAsciiBytes) {
  std::string out;
  AppendJsonString(out, std::string("a\"b\\c\n\x01\xff/", 9));
  EXPECT_EQ(out, R"("a\"b\\c\u000a\u0001\u00ff/")");
  // Whatever the bytes, the result parses as one JSON string (a byte >= 0x80 reads back as
  // the code point of the same number).
  EXPECT_EQ(boost::json::parse(out).as_string(), "a\"b\\c\n\x01\xc3\xbf/");
}

TEST(StoreMetrics, StatementOpNamesVerbAndTable) {
  EXPECT_EQ(StatementOp("SELECT id, sha256 FROM images WHERE id = ?"), "select images");
  EXPECT_EQ(StatementOp("  insert INTO blobs(sha256, size) VALUES ($1, $2)"), "insert blobs");
  EXPECT_EQ(StatementOp("UPDATE blobs SET refcount = refcount - 1"), "update blobs");
  EXPECT_EQ(StatementOp("DELETE FROM images WHERE id=?"), "delete images");
  EXPECT_EQ(StatementOp("BEGIN IMMEDIATE"), "begin");
  EXPECT_EQ(StatementOp("SELECT 1"), "select");
  EXPECT_EQ(StatementOp(""), "empty");
  EXPECT_LE(StatementOp("SELECT x FROM " + std::string(100, 'a')).size(), 40u);
}

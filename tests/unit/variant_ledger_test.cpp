// The bounds on stored variants: per original (count, bytes) and in all, least recently
// used first, including what a listing of the store brings in.
#include "service/variant_ledger.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace imgd {
namespace {

std::string Sha(char c) { return std::string(64, c); }
std::string Key(char original, int size) {
  return "variants/" + Sha(original) + "-p1-w" + std::to_string(size) + "-q80";
}

TEST(VariantLedger, PerOriginalCountEvictsThatOriginalsLeastRecentlyUsed) {
  VariantLedger ledger({3, 1 << 20, 0});
  EXPECT_TRUE(ledger.Record(Key('a', 1), 10).empty());
  EXPECT_TRUE(ledger.Record(Key('b', 1), 10).empty());
  EXPECT_TRUE(ledger.Record(Key('a', 2), 10).empty());
  EXPECT_TRUE(ledger.Record(Key('a', 3), 10).empty());
  EXPECT_TRUE(ledger.Record(Key('a', 1), 10).empty());  // a use: now the most recent
  auto evicted = ledger.Record(Key('a', 4), 10);
  EXPECT_EQ(evicted, std::vector<std::string>{Key('a', 2)});
  EXPECT_EQ(ledger.size(), 4u);  // a1 a3 a4 and b1: b is not a's business
}

TEST(VariantLedger, PerOriginalBytes) {
  VariantLedger ledger({100, 100, 0});
  ledger.Record(Key('a', 1), 60);
  auto evicted = ledger.Record(Key('a', 2), 60);
  EXPECT_EQ(evicted, std::vector<std::string>{Key('a', 1)});
  // One variant alone over the bound is not kept either.
  evicted = ledger.Record(Key('a', 3), 200);
  EXPECT_EQ(std::set<std::string>(evicted.begin(), evicted.end()),
            (std::set<std::string>{Key('a', 2), Key('a', 3)}));
  EXPECT_EQ(ledger.total_bytes(), 0u);
}

TEST(VariantLedger, TotalBytesEvictsTheGloballyLeastRecentlyUsed) {
  VariantLedger ledger({100, 1000, 250});
  ledger.Record(Key('a', 1), 100);
  ledger.Record(Key('b', 1), 100);
  ledger.Record(Key('a', 1), 100);  // used again
  auto evicted = ledger.Record(Key('c', 1), 100);
  EXPECT_EQ(evicted, std::vector<std::string>{Key('b', 1)});
  EXPECT_EQ(ledger.total_bytes(), 200u);
}

TEST(VariantLedger, LoadCountsWhatOtherNodesStoredOldestFirst) {
  VariantLedger ledger({2, 1000, 0});
  ledger.Record(Key('a', 9), 10);  // this node's, used recently
  auto evicted = ledger.Load({{Key('a', 9), 10, 1000},
                              {Key('a', 1), 10, 1},
                              {Key('a', 2), 10, 2},
                              {Key('b', 1), 10, 3},
                              {"variants/short", 5, 4}});
  EXPECT_EQ(std::set<std::string>(evicted.begin(), evicted.end()),
            (std::set<std::string>{Key('a', 1)}));
  EXPECT_EQ(ledger.size(), 3u);
  // A variant this node knew but the store no longer has is forgotten.
  ledger.Load({{Key('b', 1), 10, 3}});
  EXPECT_EQ(ledger.size(), 1u);
  ledger.ForgetOriginal(Sha('b'));
  EXPECT_EQ(ledger.total_bytes(), 0u);
}

TEST(VariantLedger, TwoPassesOver500SizesStayWithinTheBounds) {
  VariantLedger ledger({20, 2000, 0});
  size_t removed = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (int size = 1; size <= 500; ++size) {
      removed += ledger.Record(Key('a', size), 50 + size % 40).size();
      ASSERT_LE(ledger.size(), 20u);
      ASSERT_LE(ledger.total_bytes(), 2000u);
    }
  }
  EXPECT_EQ(removed, 1000u - ledger.size());
}

}  // namespace
}  // namespace imgd

// The similarity index in every metadata store: per-user lookups within a Hamming distance
// through the band probes, exact distances, removal, and the content hashes.
#include "meta/similarity_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>

#include "store_fixtures.h"

using namespace imgd;
using namespace imgd::testing;

namespace {

// hash with the given bits flipped.
uint64_t Flip(uint64_t hash, std::initializer_list<int> bits) {
  for (int b : bits) hash ^= uint64_t{1} << b;
  return hash;
}

}  // namespace

TEST(BandProbes, CoverEveryValueWithinTheRadiusOnce) {
  for (int radius = 0; radius <= 3; ++radius) {
    auto probes = BandProbes(0xBEEF, radius);
    std::sort(probes.begin(), probes.end());
    EXPECT_EQ(std::adjacent_find(probes.begin(), probes.end()), probes.end());
    size_t within = 0;
    for (uint32_t v = 0; v < 65536; ++v) {
      within += std::popcount(v ^ 0xBEEFu) <= radius;
    }
    EXPECT_EQ(probes.size(), within) << radius;  // 1, 17, 137, 697
  }
}

TEST_P(MetaStoreTest, SimilarityIndexFindsAUsersImagesWithinADistance) {
  const uint64_t base = 0x0123456789ABCDEFull;
  // Ten bits apart, spread so that no band is untouched: only the probes find it.
  const uint64_t near10 = Flip(base, {0, 1, 2, 16, 17, 18, 32, 33, 48, 49});
  const uint64_t near2 = Flip(base, {5, 40});
  const uint64_t far = ~base;
  store_->IndexSimilar("u1", "img-near10", near10);
  store_->IndexSimilar("u1", "img-near2", near2);
  store_->IndexSimilar("u1", "img-far", far);
  store_->IndexSimilar("u2", "img-other-user", base);
  store_->IndexSimilar("u1", "img-near2", near2);  // idempotent

  auto found = store_->FindSimilar("u1", base, 10, 10);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].image_id, "img-near2");  // nearest first
  EXPECT_EQ(found[0].distance, 2);
  EXPECT_EQ(found[0].phash, near2);
  EXPECT_EQ(found[1].image_id, "img-near10");
  EXPECT_EQ(found[1].distance, 10);
  EXPECT_EQ(store_->FindSimilar("u1", base, 9, 10).size(), 1u);
  EXPECT_EQ(store_->FindSimilar("u1", base, 10, 1).size(), 1u);  // the limit
  // Never another user's images.
  for (const auto& s : store_->FindSimilar("u1", base, 15, 10)) {
    EXPECT_NE(s.image_id, "img-other-user");
  }

  store_->UnindexSimilar("u1", "img-near2", near2);
  found = store_->FindSimilar("u1", base, 10, 10);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].image_id, "img-near10");

  EXPECT_FALSE(store_->GetContentHash("sha-a"));
  store_->SetContentHash("sha-a", far);
  store_->SetContentHash("sha-a", far);
  EXPECT_EQ(store_->GetContentHash("sha-a"), far);  // all 64 bits, the sign bit included
}

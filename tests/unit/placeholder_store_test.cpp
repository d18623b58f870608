// Placeholders in every MetaStore: the backfill's SetPlaceholder reaches the image and its
// blob row, and never brings back what was deleted (Cassandra's UPDATE is an upsert).
#include <gtest/gtest.h>

#include "core/ids.h"
#include "store_fixtures.h"

using namespace imgd;
using namespace imgd::testing;

TEST_P(MetaStoreTest, PlaceholdersAreBackfilledWithoutBringingBackDeletedImages) {
  Image im = Candidate("u1", "bytes-old");
  ASSERT_TRUE(store_->CommitImage(im, DuplicatePolicy::kReturnExisting).created);
  EXPECT_EQ(store_->GetImage(im.id)->blurhash, "");
  store_->SetPlaceholder(im, "LxH2cg2kwzX5l?WGjue:gLfkfQfj");
  EXPECT_EQ(store_->GetImage(im.id)->blurhash, "LxH2cg2kwzX5l?WGjue:gLfkfQfj");
  EXPECT_EQ(store_->GetBlob("bytes-old")->blurhash, "LxH2cg2kwzX5l?WGjue:gLfkfQfj");
  Image gone = Candidate("u1", "bytes-gone");
  gone.id = NewUuidV7();
  store_->SetPlaceholder(gone, "L00000fQfQfQfQfQfQfQfQfQfQfQ");
  EXPECT_FALSE(store_->GetImage(gone.id));
  EXPECT_FALSE(store_->GetBlob("bytes-gone"));
}

// What only the filesystem blob store does: paths under its root, staging files and their
// sweep, resumable files. (The BlobStore contract itself is blob_contract_test.)
#include "blob/fs_blob_store.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/ids.h"
#include "test_util.h"

using namespace imgd;
using namespace imgd::testing;

namespace {

// The contract (stage, commit, read, remove) is blob_contract_test's; here only the layout.
TEST(FsBlobStore, KeysLiveUnderTwoLevelsOfDirectoriesFromTheirName) {
  TempDir dir;
  FsBlobStore store(dir.path() / "blobs");
  store.Put("originals/abcdef0123", "hello world");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "blobs/originals/ab/cd/abcdef0123"));
  store.Remove("originals/abcdef0123");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "blobs/originals/ab/cd/abcdef0123"));
}

TEST(FsBlobStore, AbandonedStagingLeavesNothingAndSweepRemovesLeftovers) {
  TempDir dir;
  FsBlobStore store(dir.path());
  {
    auto staged = store.Stage();
    staged->Write("x", 1);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "tmp"));
  std::ofstream(dir.path() / "tmp" / "crashed.part") << "partial";
  EXPECT_EQ(store.SweepStaging(NowMs() - 3600 * 1000), 0u);  // too young
  EXPECT_EQ(store.SweepStaging(NowMs() + 1000), 1u);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "tmp"));
}

TEST(FsBlobStore, RejectsKeysThatEscapeTheRoot) {
  EXPECT_FALSE(IsValidBlobKey("../etc/passwd"));
  EXPECT_FALSE(IsValidBlobKey("originals/../../x"));
  EXPECT_FALSE(IsValidBlobKey("originals/a/b"));
  EXPECT_FALSE(IsValidBlobKey("originals/"));
  EXPECT_FALSE(IsValidBlobKey("originals/ab"));
  EXPECT_TRUE(IsValidBlobKey("variants/abcd-w300"));
}

TEST(FsResumable, AppendsAcrossOpensAndCommits) {
  TempDir dir;
  FsBlobStore store(dir.path());
  const std::string id = NewUuidV7();
  EXPECT_EQ(store.OpenResumable(id, false), nullptr);
  {
    auto a = store.OpenResumable(id, true);
    EXPECT_EQ(a->size(), 0u);
    a->Write("hello ", 6);
    a->Finish();
  }  // closing keeps the bytes
  auto b = store.OpenResumable(id, false);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 6u);
  b->Write("world", 5);
  b->Finish();
  EXPECT_EQ(b->size(), 11u);
  std::vector<std::string> seen;
  store.ForEachResumable([&](const std::string& u, int64_t) { seen.push_back(u); });
  EXPECT_EQ(seen, std::vector<std::string>{id});
  store.SweepStaging(NowMs() + 1000);  // the startup sweep of staging leaves them alone
  store.Commit(*b, "originals/" + Sha256Hex("hello world"));
  b.reset();
  auto r = store.Open("originals/" + Sha256Hex("hello world"));
  ASSERT_TRUE(r);
  std::string out(11, '\0');
  r->ReadAt(0, out.data(), 11);
  EXPECT_EQ(out, "hello world");
  // Kept after the commit (a failed record step loses nothing) until removed.
  ASSERT_TRUE(store.OpenResumable(id, false));
  EXPECT_EQ(store.OpenResumable(id, false)->size(), 11u);
  store.RemoveResumable(id);
  EXPECT_EQ(store.OpenResumable(id, false), nullptr);
  r = store.Open("originals/" + Sha256Hex("hello world"));
  ASSERT_TRUE(r);  // the published name is its own
  EXPECT_EQ(r->size(), 11u);

  auto c = store.OpenResumable(NewUuidV7(), true);
  c->Write("x", 1);
  c.reset();
  seen.clear();
  store.ForEachResumable([&](const std::string& u, int64_t) { seen.push_back(u); });
  ASSERT_EQ(seen.size(), 1u);
  store.RemoveResumable(seen[0]);
  store.RemoveResumable(seen[0]);  // missing is fine
  EXPECT_EQ(store.OpenResumable(seen[0], false), nullptr);
  EXPECT_THROW(store.OpenResumable("../../etc/passwd", true), std::invalid_argument);
}

}  // namespace

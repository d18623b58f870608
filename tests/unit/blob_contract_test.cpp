// The BlobStore contract, run against the filesystem store and (through tests/engines.py)
// a real S3 engine.
#include <gtest/gtest.h>

#include <random>

#include "core/clock.h"
#include "core/hash.h"
#include "core/ids.h"
#include "store_fixtures.h"

using namespace imgd;
using namespace imgd::testing;

namespace {

std::string ReadAll(BlobReader& r) {
  std::string out(r.size(), '\0');
  size_t done = 0;
  while (done < out.size()) {
    size_t n = r.ReadAt(done, out.data() + done, std::min<size_t>(1 << 20, out.size() - done));
    if (n == 0) break;
    done += n;
  }
  out.resize(done);
  return out;
}

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_P(BlobStoreTest, StageCommitReadRemove) {
  auto staged = store_->Stage();
  staged->Write("hello ", 6);
  staged->Write("world", 5);
  staged->Finish();
  EXPECT_EQ(staged->size(), 11u);
  char buf[16] = {};
  EXPECT_EQ(staged->OpenReader()->ReadAt(6, buf, sizeof(buf)), 5u);
  EXPECT_EQ(std::string(buf, 5), "world");
  const std::string key = "originals/abcdef0123";
  EXPECT_FALSE(store_->Stat(key));
  store_->Commit(*staged, key);
  staged.reset();  // committed bytes survive the staged handle
  EXPECT_EQ(store_->Stat(key), 11u);
  auto reader = store_->Open(key);
  ASSERT_TRUE(reader);
  EXPECT_EQ(ReadAll(*reader), "hello world");
  EXPECT_EQ(reader->ReadAt(11, buf, 4), 0u);  // at the end
  int seen = 0;
  store_->ForEach("originals/", [&](const std::string& k, uint64_t size, int64_t mtime) {
    EXPECT_EQ(k, key);
    EXPECT_EQ(size, 11u);
    EXPECT_GT(mtime, 0);
    ++seen;
  });
  EXPECT_EQ(seen, 1);
  store_->Remove(key);
  store_->Remove(key);  // removing a missing key is fine
  EXPECT_FALSE(store_->Open(key));
  EXPECT_FALSE(store_->Stat(key));
}

TEST_P(BlobStoreTest, LargeUploadStreamsInPartsAndReadsBackAnywhere) {
  const std::string data = RandomBytes(13 * 1024 * 1024 + 12345, 7);  // three S3 parts
  auto staged = store_->Stage();
  for (size_t i = 0; i < data.size(); i += 65536) {
    staged->Write(data.data() + i, std::min<size_t>(65536, data.size() - i));
  }
  staged->Finish();
  EXPECT_EQ(staged->size(), data.size());
  auto sreader = staged->OpenReader();
  EXPECT_EQ(Sha256Hex(ReadAll(*sreader)), Sha256Hex(data));
  const std::string key = "originals/" + Sha256Hex(data);
  store_->Commit(*staged, key);
  staged.reset();
  auto reader = store_->Open(key);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->size(), data.size());
  // Reads that jump around, across part boundaries.
  for (uint64_t off : {uint64_t{0}, uint64_t{5 * 1024 * 1024 - 3}, uint64_t{8 * 1024 * 1024 + 1},
                       uint64_t{data.size() - 10}}) {
    char buf[4096];
    size_t n = reader->ReadAt(off, buf, sizeof buf);
    EXPECT_EQ(n, std::min<size_t>(sizeof buf, data.size() - off));
    EXPECT_EQ(std::string(buf, n), data.substr(off, n)) << off;
  }
  EXPECT_EQ(Sha256Hex(ReadAll(*reader)), Sha256Hex(data));
  // Nothing of the upload is left in staging.
  EXPECT_EQ(store_->SweepStaging(NowMs() + 3'600'000), 0u);
}

TEST_P(BlobStoreTest, AbandonedUploadsLeaveNothing) {
  {
    auto small = store_->Stage();
    small->Write("abc", 3);
  }
  {
    const std::string data = RandomBytes(6 * 1024 * 1024, 3);  // past one S3 part
    auto big = store_->Stage();
    big->Write(data.data(), data.size());
  }
  {
    const std::string data = RandomBytes(6 * 1024 * 1024, 4);
    auto finished = store_->Stage();
    finished->Write(data.data(), data.size());
    finished->Finish();  // complete in staging, never committed
  }
  EXPECT_EQ(store_->SweepStaging(NowMs() + 3'600'000), 0u);
  int seen = 0;
  store_->ForEach("", [&](const std::string&, uint64_t, int64_t) { ++seen; });
  EXPECT_EQ(seen, 0);
}

TEST_P(BlobStoreTest, PutOverwritesAndForEachNarrowsByPrefix) {
  const std::string a(64, 'a'), b(64, 'b');
  store_->Put("variants/" + a + "-w300", "one");
  store_->Put("variants/" + a + "-w300", "two");  // replaced, atomically
  store_->Put("variants/" + a + "-w600", "three");
  store_->Put("variants/" + b + "-w300", "four");
  auto r = store_->Open("variants/" + a + "-w300");
  ASSERT_TRUE(r);
  EXPECT_EQ(ReadAll(*r), "two");
  std::vector<std::string> keys;
  store_->ForEach("variants/" + a + "-",
                  [&](const std::string& k, uint64_t, int64_t) { keys.push_back(k); });
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"variants/" + a + "-w300", "variants/" + a + "-w600"}));
  keys.clear();
  store_->ForEach("variants/", [&](const std::string& k, uint64_t, int64_t) { keys.push_back(k); });
  EXPECT_EQ(keys.size(), 3u);
}

TEST_P(BlobStoreTest, RejectsKeysThatEscape) {
  EXPECT_THROW(store_->Put("../etc/passwd", "x"), std::invalid_argument);
  EXPECT_THROW(store_->Stat("originals/../../x"), std::invalid_argument);
  EXPECT_THROW(store_->Open("originals/a/b"), std::invalid_argument);
  store_->Ping();
}

TEST_P(BlobStoreTest, AnAdoptedObjectIsCommittedOnlyAsTheVersionThatWasRead) {
  const std::string key = "staging/" + NewUuidV7();
  store_->Put(key, "version A");
  auto adopted = store_->AdoptStaged(key);
  if (GetParam() == "fs") {  // no direct uploads: nothing to adopt, by contract
    EXPECT_EQ(adopted, nullptr);
    store_->Remove(key);
    return;
  }
  ASSERT_TRUE(adopted);
  EXPECT_EQ(ReadAll(*adopted->OpenReader()), "version A");
  // The client PUTs again to its pre-signed URL while the upload is being completed.
  store_->Put(key, "version B, longer");
  EXPECT_THROW(store_->Commit(*adopted, "originals/swapped-" + NewUuidV7()), StagedBlobChanged);
  // Adopted again, the new version commits.
  auto again = store_->AdoptStaged(key);
  const std::string dest = "originals/adopted-" + NewUuidV7();
  store_->Commit(*again, dest);
  EXPECT_EQ(ReadAll(*store_->Open(dest)), "version B, longer");
  EXPECT_FALSE(store_->Stat(key));  // the staging object went with the commit
  store_->Remove(dest);
}

TEST_P(BlobStoreTest, ResumableUploadsAppendAcrossOpensAndCommit) {
  const std::string id = NewUuidV7();
  EXPECT_EQ(store_->OpenResumable(id, false), nullptr);
  const std::string data = RandomBytes(7 * 1024 * 1024 + 333, 11);
  {
    auto a = store_->OpenResumable(id, true);
    EXPECT_EQ(a->size(), 0u);
    a->Write(data.data(), 1000);
    a->Finish();
  }  // closing keeps the bytes
  {
    auto b = store_->OpenResumable(id, false);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->size(), 1000u);
    b->Write(data.data() + 1000, data.size() - 1000);  // crosses an S3 part
    b->Finish();
  }
  auto c = store_->OpenResumable(id, false);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->size(), data.size());
  auto reader = c->OpenReader();  // what arrived can be read back (hash rebuild)
  EXPECT_EQ(Sha256Hex(ReadAll(*reader)), Sha256Hex(data));
  std::vector<std::string> seen;
  store_->ForEachResumable([&](const std::string& u, int64_t) { seen.push_back(u); });
  EXPECT_EQ(seen, std::vector<std::string>{id});
  store_->SweepStaging(NowMs() + 3'600'000);  // the staging sweep leaves them alone
  const std::string key = "originals/" + Sha256Hex(data);
  store_->Commit(*c, key);
  c.reset();
  // Committed, the upload's bytes are still there until removed: a record step that fails
  // after the commit loses nothing, and a retry can commit them again.
  auto kept = store_->OpenResumable(id, false);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->size(), data.size());
  EXPECT_EQ(Sha256Hex(ReadAll(*kept->OpenReader())), Sha256Hex(data));
  store_->Commit(*kept, key);
  kept.reset();
  store_->RemoveResumable(id);  // what the service does once recorded
  auto r = store_->Open(key);
  ASSERT_TRUE(r);
  EXPECT_EQ(Sha256Hex(ReadAll(*r)), Sha256Hex(data));
  EXPECT_EQ(store_->OpenResumable(id, false), nullptr);
  seen.clear();
  store_->ForEachResumable([&](const std::string& u, int64_t) { seen.push_back(u); });
  EXPECT_TRUE(seen.empty());
  int originals = 0;
  store_->ForEach("", [&](const std::string&, uint64_t, int64_t) { ++originals; });
  EXPECT_EQ(originals, 1);  // no chunk objects left, none listed as blobs
  EXPECT_THROW(store_->OpenResumable("../../etc/passwd", true), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Backends, BlobStoreTest, ::testing::Values("fs", "s3", "s3_virtual_host"),
                         [](const auto& info) { return info.param; });

}  // namespace

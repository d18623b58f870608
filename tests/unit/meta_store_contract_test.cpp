// The MetaStore contract, run against SQLite and (through tests/engines.py) PostgreSQL:
// users and keys, duplicates and reference counts, the bytes-stored invariant, pending and
// resumable uploads, idempotency keys, secrets, migrations, export and import.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "store_fixtures.h"
#include "test_util.h"

using namespace imgd;
using namespace imgd::testing;

TEST_P(MetaStoreTest, UsersAndKeys) {
  User u{NewUuidV7(), "ann", "ann@example.com", false, NowMs()};
  store_->CreateUser(u, "hash1");
  auto found = store_->FindUserByKeyHash("hash1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, u.id);
  EXPECT_FALSE(store_->FindUserByKeyHash("nope"));
  EXPECT_FALSE(store_->HasAdmin());
  store_->SetAdminKey("admin1");
  store_->SetAdminKey("admin2");  // rotation replaces the old key
  EXPECT_TRUE(store_->HasAdmin());
  EXPECT_FALSE(store_->FindUserByKeyHash("admin1"));
  ASSERT_TRUE(store_->FindUserByKeyHash("admin2"));
  EXPECT_TRUE(store_->FindUserByKeyHash("admin2")->is_admin);
}

TEST_P(MetaStoreTest, DuplicatePoliciesAndReferenceCounts) {
  auto first = store_->CommitImage(Candidate("u1", "s1"), DuplicatePolicy::kReturnExisting);
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(first.duplicate);
  auto again = store_->CommitImage(Candidate("u1", "s1"), DuplicatePolicy::kReturnExisting);
  EXPECT_TRUE(again.duplicate);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.image.id, first.image.id);
  auto rejected = store_->CommitImage(Candidate("u1", "s1"), DuplicatePolicy::kReject);
  EXPECT_TRUE(rejected.duplicate);
  EXPECT_FALSE(rejected.created);
  EXPECT_EQ(store_->GetBlob("s1")->refcount, 1);
  auto second = store_->CommitImage(Candidate("u1", "s1"), DuplicatePolicy::kNew);
  EXPECT_TRUE(second.created);
  EXPECT_NE(second.image.id, first.image.id);
  auto other = store_->CommitImage(Candidate("u2", "s1"), DuplicatePolicy::kReturnExisting);
  EXPECT_TRUE(other.created);
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(store_->GetBlob("s1")->refcount, 3);

  EXPECT_FALSE(store_->DeleteImage(first.image.id).blob_released);
  EXPECT_FALSE(store_->DeleteImage(second.image.id).blob_released);
  auto last = store_->DeleteImage(other.image.id);
  EXPECT_TRUE(last.found);
  EXPECT_TRUE(last.blob_released);
  EXPECT_EQ(store_->GetBlob("s1")->refcount, 0);  // kept until its bytes are removed
  EXPECT_EQ(store_->UnreferencedBlobs(10), std::vector<std::string>{"s1"});
  int removed = 0;
  EXPECT_TRUE(store_->RemoveBlobIfUnreferenced("s1", [&] { ++removed; }));
  EXPECT_EQ(removed, 1);
  EXPECT_FALSE(store_->GetBlob("s1"));
  EXPECT_FALSE(store_->RemoveBlobIfUnreferenced("s1", [&] { ++removed; }));
  EXPECT_EQ(removed, 1);
  EXPECT_FALSE(store_->DeleteImage(other.image.id).found);
}

TEST_P(MetaStoreTest, ConcurrentIdenticalCommitsMakeOneImage) {
  // Two handles, as two nodes sharing the database would have.
  auto second = Open();
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      MetaStore& s = i % 2 ? *second : *store_;
      auto r = s.CommitImage(Candidate("u1", "same"), DuplicatePolicy::kReturnExisting);
      if (r.created) ++created;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(store_->ListImages("u1", 100, "").size(), 1u);
  EXPECT_EQ(store_->GetBlob("same")->refcount, 1);
}

TEST_P(MetaStoreTest, ReferenceCountsHoldUnderConcurrency) {
  auto second = Open();
  std::vector<std::string> ids(24);
  std::vector<std::thread> threads;
  for (int i = 0; i < 24; ++i) {
    threads.emplace_back([&, i] {
      MetaStore& s = i % 2 ? *second : *store_;
      ids[i] = s.CommitImage(Candidate("user" + std::to_string(i), "shared"),
                             DuplicatePolicy::kReturnExisting)
                   .image.id;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->GetBlob("shared")->refcount, 24);
  threads.clear();
  std::atomic<int> released{0};
  for (int i = 0; i < 24; ++i) {
    threads.emplace_back([&, i] {
      MetaStore& s = i % 2 ? *second : *store_;
      if (s.DeleteImage(ids[i]).blob_released) ++released;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(released.load(), 1);  // exactly one delete saw the last reference go
  EXPECT_EQ(store_->GetBlob("shared")->refcount, 0);
}

TEST_P(MetaStoreTest, RemovingUnreferencedBytesIsSafeAgainstACommitOnAnotherNode) {
  auto second = Open();
  auto a = store_->CommitImage(Candidate("u1", "bytes"), DuplicatePolicy::kReturnExisting);
  EXPECT_EQ(a.blob_refcount, 1);
  EXPECT_TRUE(store_->DeleteImage(a.image.id).blob_released);
  // A referenced blob is never removed.
  auto b = second->CommitImage(Candidate("u2", "bytes"), DuplicatePolicy::kReturnExisting);
  EXPECT_EQ(b.blob_refcount, 1);  // the row was at 0: this commit must store the bytes
  EXPECT_FALSE(store_->RemoveBlobIfUnreferenced("bytes", [] { ADD_FAILURE(); }));
  EXPECT_TRUE(second->DeleteImage(b.image.id).blob_released);
  // A commit racing with the removal waits for it, then finds no row: it recreates it
  // with one reference (and so stores the bytes again) instead of pointing at removed ones.
  std::atomic<bool> in_removal{false};
  std::thread racer;
  MetaStore::CommitResult raced;
  EXPECT_TRUE(store_->RemoveBlobIfUnreferenced("bytes", [&] {
    in_removal = true;
    racer = std::thread([&] {
      raced = second->CommitImage(Candidate("u3", "bytes"), DuplicatePolicy::kReturnExisting);
    });
    // Whether the racer reaches the database before or after this removal commits, the
    // assertions below must hold.
  }));
  racer.join();
  EXPECT_TRUE(in_removal);
  EXPECT_TRUE(raced.created);
  EXPECT_EQ(raced.blob_refcount, 1);
  EXPECT_EQ(store_->GetBlob("bytes")->refcount, 1);
}

TEST_P(MetaStoreTest, EnsureBytesRunsUnderTheRowLockTheRemoverTakes) {
  // A stand-in for the blob store: are the bytes there? The remover only clears it under
  // RemoveBlobIfUnreferenced; each commit's ensure_bytes stores them when missing.
  std::atomic<bool> present{false};
  std::atomic<int> ensured{0};
  auto ensure = [&] {
    ++ensured;
    present = true;
  };
  auto second = Open();
  auto a = store_->CommitImage(Candidate("u1", "lock"), DuplicatePolicy::kReturnExisting, ensure);
  EXPECT_EQ(ensured, 1);
  // A duplicate adds no reference and needs no bytes.
  store_->CommitImage(Candidate("u1", "lock"), DuplicatePolicy::kReturnExisting, ensure);
  EXPECT_EQ(ensured, 1);
  // If ensure_bytes throws, nothing is recorded.
  EXPECT_THROW(store_->CommitImage(Candidate("u2", "lock"), DuplicatePolicy::kReturnExisting,
                                   [] { throw StoreError("blob store down"); }),
               StoreError);
  EXPECT_EQ(store_->GetBlob("lock")->refcount, 1);
  EXPECT_TRUE(store_->DeleteImage(a.image.id).blob_released);
  // Remove and commit race from two connections (two nodes), many times: after both, a
  // record that references the bytes always finds them present.
  for (int round = 0; round < 20; ++round) {
    MetaStore::CommitResult raced;
    std::thread committer([&] {
      raced = second->CommitImage(Candidate("r" + std::to_string(round), "lock"),
                                  DuplicatePolicy::kReturnExisting, ensure);
    });
    store_->RemoveBlobIfUnreferenced("lock", [&] { present = false; });
    committer.join();
    ASSERT_TRUE(raced.created);
    EXPECT_TRUE(present) << "round " << round;
    EXPECT_TRUE(second->DeleteImage(raced.image.id).blob_released);
  }
  // Bytes no row knows of get an unreferenced row and go through the same removal.
  EXPECT_TRUE(store_->RemoveBlobIfUnreferenced("lock", [&] { present = false; }));
  store_->TrackUnrecordedBlob("orphan", 123, NowMs());
  store_->TrackUnrecordedBlob("orphan", 123, NowMs());  // idempotent
  EXPECT_EQ(store_->GetBlob("orphan")->refcount, 0);
  EXPECT_TRUE(store_->RemoveBlobIfUnreferenced("orphan", [] {}));
  EXPECT_FALSE(store_->GetBlob("orphan"));
}

TEST_P(MetaStoreTest, ListIsNewestFirstAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    ids.push_back(
        store_
            ->CommitImage(Candidate("u1", fmt::format("s{}", i)), DuplicatePolicy::kReturnExisting)
            .image.id);
  }
  store_->CommitImage(Candidate("u2", "x"), DuplicatePolicy::kReturnExisting);
  std::vector<std::string> walked;
  std::string after;
  for (;;) {
    auto page = store_->ListImages("u1", 10, after);
    if (page.empty()) break;
    for (auto& im : page) walked.push_back(im.id);
    after = page.back().id;
  }
  std::reverse(ids.begin(), ids.end());
  EXPECT_EQ(walked, ids);
}

TEST_P(MetaStoreTest, UpdateChangesOnlyGivenFields) {
  auto r = store_->CommitImage(Candidate("u1", "s"), DuplicatePolicy::kReturnExisting);
  auto up = store_->UpdateImage(r.image.id, {.name = std::string("new")}, "u9", 42);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->name, "new");
  EXPECT_EQ(up->modified_by, "u9");
  EXPECT_EQ(up->modified_ms, 42);
  EXPECT_FALSE(store_->UpdateImage("missing", {.name = std::string("x")}, "u", 1));
}

TEST_P(MetaStoreTest, VisibilityIsStoredAndChanged) {
  Image c = Candidate("u1", "vis");
  c.visibility = kVisibilityPrivate;
  auto r = store_->CommitImage(c, DuplicatePolicy::kReturnExisting);
  EXPECT_TRUE(store_->GetImage(r.image.id)->is_private());
  auto up =
      store_->UpdateImage(r.image.id, {.visibility = std::string(kVisibilityPublic)}, "u1", 7);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->visibility, kVisibilityPublic);
  EXPECT_EQ(up->name, c.name);  // untouched
  EXPECT_FALSE(store_->GetImage(r.image.id)->is_private());
  // Default for records that never set it.
  auto plain = store_->CommitImage(Candidate("u2", "plain"), DuplicatePolicy::kReturnExisting);
  EXPECT_EQ(store_->GetImage(plain.image.id)->visibility, kVisibilityPublic);
  // Resumable uploads carry it to the image they become.
  ResumableUpload u;
  u.id = "0190f0a0-0000-7000-8000-00000000abcd";
  u.user_id = "u1";
  u.length = 10;
  u.visibility = kVisibilityPrivate;
  u.expires_ms = 1;
  store_->CreateUpload(u);
  EXPECT_EQ(store_->GetUpload(u.id)->visibility, kVisibilityPrivate);
}

TEST_P(MetaStoreTest, PendingImagesCompleteExpireAndDedup) {
  Image p = Candidate("u1", "");
  p.expires_ms = NowMs() + 60'000;
  store_->CreatePendingImage(p);
  auto got = store_->GetImage(p.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, kStatusPending);
  EXPECT_TRUE(got->sha256.empty());
  EXPECT_EQ(store_->ListImages("u1", 10, "").size(), 1u);  // pending shows in lists

  BlobInfo blob{"bytes1", 100, 8, 6, 0, "LxH2cg2kwzX5l?WGjue:gLfkfQfj"};
  auto done = store_->CompletePendingImage(p.id, blob, NowMs(), DuplicatePolicy::kReturnExisting);
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->created);
  EXPECT_EQ(done->image.id, p.id);
  EXPECT_EQ(done->image.status, kStatusReady);
  EXPECT_EQ(done->image.size, 100u);
  EXPECT_EQ(store_->GetBlob("bytes1")->refcount, 1);
  // The placeholder goes with the content to the image and the blob row.
  EXPECT_EQ(store_->GetImage(p.id)->blurhash, blob.blurhash);
  EXPECT_EQ(store_->GetBlob("bytes1")->blurhash, blob.blurhash);
  // Completing twice is refused.
  EXPECT_FALSE(store_->CompletePendingImage(p.id, blob, NowMs(), DuplicatePolicy::kNew));

  // A second pending upload of the same bytes resolves to the existing image.
  Image p2 = Candidate("u1", "");
  p2.expires_ms = NowMs() + 60'000;
  store_->CreatePendingImage(p2);
  auto dup = store_->CompletePendingImage(p2.id, blob, NowMs(), DuplicatePolicy::kReturnExisting);
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup->duplicate);
  EXPECT_FALSE(dup->created);
  EXPECT_EQ(dup->image.id, p.id);
  EXPECT_FALSE(store_->GetImage(p2.id));
  EXPECT_EQ(store_->GetBlob("bytes1")->refcount, 1);

  // With kNew it becomes a second record on the same blob.
  Image p3 = Candidate("u1", "");
  p3.expires_ms = NowMs() + 60'000;
  store_->CreatePendingImage(p3);
  auto extra = store_->CompletePendingImage(p3.id, blob, NowMs(), DuplicatePolicy::kNew);
  ASSERT_TRUE(extra);
  EXPECT_TRUE(extra->created);
  EXPECT_EQ(store_->GetBlob("bytes1")->refcount, 2);

  // Expired pending images cannot complete and are swept.
  Image old = Candidate("u1", "");
  old.expires_ms = NowMs() - 1;
  store_->CreatePendingImage(old);
  EXPECT_FALSE(store_->CompletePendingImage(old.id, blob, NowMs(), DuplicatePolicy::kNew));
  auto swept = store_->DeleteExpiredPending(NowMs());
  ASSERT_EQ(swept.size(), 1u);
  EXPECT_EQ(swept[0], old.id);
  EXPECT_FALSE(store_->GetImage(old.id));
  // Deleting a pending image releases nothing.
  Image p4 = Candidate("u1", "");
  p4.expires_ms = NowMs() + 60'000;
  store_->CreatePendingImage(p4);
  auto del = store_->DeleteImage(p4.id);
  EXPECT_TRUE(del.found);
  EXPECT_FALSE(del.blob_released);
}

INSTANTIATE_TEST_SUITE_P(Backends, MetaStoreTest,
                         ::testing::Values("sqlite", "postgres", "cassandra"),
                         [](const auto& info) { return info.param; });

TEST_P(MetaStoreTest, ConcurrentMigrationsOfAFreshDatabaseSucceedOnce) {
  PgTestDatabase fresh_pg;
  CassandraTestKeyspace fresh_keyspace;
  std::string url;
  if (GetParam() == "postgres") {
    ASSERT_TRUE(fresh_pg.Create());
    url = fresh_pg.url();
  } else if (GetParam() == "cassandra") {
    ASSERT_TRUE(fresh_keyspace.Create());
    url = fresh_keyspace.url();
  } else {
    url = "sqlite://" + (dir_.path() / "fresh.db").string();
  }
  std::vector<std::unique_ptr<MetaStore>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(OpenMetaStore(url));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (auto& n : nodes) {
    threads.emplace_back([&failures, &n] {
      try {
        n->Migrate();
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  User u;
  u.id = NewUuidV7();
  u.name = "x";
  nodes[0]->CreateUser(u, "h");
  EXPECT_TRUE(nodes[3]->FindUserByKeyHash("h"));
}

TEST_P(MetaStoreTest, ExportAndImportAreIdempotent) {
  User u;
  u.id = NewUuidV7();
  u.name = "ann";
  u.created_ms = 5;
  store_->CreateUser(u, "key-a");
  auto users = store_->ExportUsers("", 10);
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].key_hashes, std::vector<std::string>{"key-a"});
  EXPECT_TRUE(store_->ExportUsers(users[0].user.id, 10).empty());

  PgTestDatabase other_pg;
  TempDir other_dir;
  std::unique_ptr<MetaStore> dest;
  if (GetParam() == "postgres") {
    ASSERT_TRUE(other_pg.Create());
    dest = OpenMetaStore(other_pg.url());
  } else {
    dest = OpenMetaStore("sqlite://" + (other_dir.path() / "d.db").string());
  }
  dest->Migrate();
  dest->ImportUser(users[0]);
  dest->ImportUser(users[0]);  // again: nothing changes
  EXPECT_EQ(dest->FindUserByKeyHash("key-a")->id, u.id);

  auto a = store_->CommitImage(Candidate(u.id, "s1"), DuplicatePolicy::kReturnExisting).image;
  auto b = store_->CommitImage(Candidate(u.id, "s1"), DuplicatePolicy::kNew).image;
  Image pending = Candidate(u.id, "");
  pending.expires_ms = NowMs() + 60'000;
  store_->CreatePendingImage(pending);
  auto images = store_->ExportImages("", 10);
  ASSERT_EQ(images.size(), 2u);  // ready ones only
  for (const auto& im : images) {
    EXPECT_TRUE(dest->ImportImage(im));
    EXPECT_FALSE(dest->ImportImage(im));
  }
  EXPECT_EQ(dest->GetBlob("s1")->refcount, 2);
  // The duplicate rule carries over: the same bytes again return the first record.
  auto again = dest->CommitImage(Candidate(u.id, "s1"), DuplicatePolicy::kReturnExisting);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.image.id, std::min(a.id, b.id));
}

TEST_P(MetaStoreTest, ResumableUploadRecords) {
  ResumableUpload u;
  u.id = NewUuidV7();
  u.user_id = "user-1";
  u.length = 5'000'000'000ull;
  u.name = "big";
  u.policy = "new";
  u.created_ms = 1000;
  u.expires_ms = 5000;
  store_->CreateUpload(u);
  auto got = store_->GetUpload(u.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->length, u.length);
  EXPECT_EQ(got->policy, "new");
  EXPECT_EQ(got->image_id, "");
  // Completing records the image and marks the upload in one call, once.
  int ensured = 0;
  auto done = store_->CompleteUpload(u.id, Candidate("user-1", "resumable-bytes"),
                                     DuplicatePolicy::kNew, [&] { ++ensured; });
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->created);
  EXPECT_EQ(ensured, 1);
  EXPECT_EQ(store_->GetUpload(u.id)->image_id, done->image.id);
  EXPECT_FALSE(store_->CompleteUpload(u.id, Candidate("user-1", "resumable-bytes"),
                                      DuplicatePolicy::kNew, [&] { ++ensured; }));
  EXPECT_EQ(store_->GetBlob("resumable-bytes")->refcount, 1);  // the second wrote nothing
  // If the bytes cannot be made durable, neither half is written.
  ResumableUpload v = u;
  v.id = NewUuidV7();
  store_->CreateUpload(v);
  EXPECT_THROW(store_->CompleteUpload(v.id, Candidate("user-1", "other-bytes"),
                                      DuplicatePolicy::kNew, [] { throw StoreError("down"); }),
               StoreError);
  EXPECT_EQ(store_->GetUpload(v.id)->image_id, "");
  EXPECT_FALSE(store_->GetBlob("other-bytes"));
  EXPECT_FALSE(
      store_->CompleteUpload(NewUuidV7(), Candidate("user-1", "x"), DuplicatePolicy::kNew, {}));
  EXPECT_TRUE(store_->DeleteExpiredUploads(5000).empty());
  auto expired = store_->DeleteExpiredUploads(5001);
  std::sort(expired.begin(), expired.end());
  std::vector<std::string> both = {u.id, v.id};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(expired, both);
  EXPECT_FALSE(store_->GetUpload(u.id));
  EXPECT_FALSE(store_->DeleteUpload(u.id));
}

TEST_P(MetaStoreTest, IdempotencyKeyIsClaimedOnceAmongConcurrentClaims) {
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (store_->ClaimIdempotencyKey("u", "key-1", "fp", 10'000, 0, 0)) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  // Same key, another user: independent.
  EXPECT_TRUE(store_->ClaimIdempotencyKey("other", "key-1", "fp", 10'000, 0, 0));

  IdempotencyRecord done;
  done.fingerprint = "fp2";
  done.status = 201;
  done.body = "{}";
  done.location = "/v1/images/x";
  store_->CompleteIdempotencyKey("u", "key-1", done);
  auto r = store_->GetIdempotencyKey("u", "key-1");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->done);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->fingerprint, "fp2");
  EXPECT_EQ(r->location, "/v1/images/x");
  // A finished record is not claimable until it expires; release leaves it alone.
  EXPECT_FALSE(store_->ClaimIdempotencyKey("u", "key-1", "fp", 20'000, 0, 9'999));
  store_->ReleaseIdempotencyKey("u", "key-1");
  EXPECT_TRUE(store_->GetIdempotencyKey("u", "key-1"));
  EXPECT_TRUE(store_->ClaimIdempotencyKey("u", "key-1", "fp", 20'000, 0, 10'001));

  // A running claim left by a crashed request is taken over once stale.
  EXPECT_FALSE(store_->ClaimIdempotencyKey("u", "key-1", "fp", 30'000, 19'999, 0));
  EXPECT_TRUE(store_->ClaimIdempotencyKey("u", "key-1", "fp", 30'000, 20'001, 0));
  store_->ReleaseIdempotencyKey("u", "key-1");
  EXPECT_FALSE(store_->GetIdempotencyKey("u", "key-1"));

  EXPECT_EQ(store_->DeleteExpiredIdempotencyKeys(10'001), 1u);  // "other"'s
}

TEST_P(MetaStoreTest, SecretIsCreatedOnceAndShared) {
  EXPECT_EQ(store_->GetOrCreateSecret("s", "first"), "first");
  EXPECT_EQ(store_->GetOrCreateSecret("s", "second"), "first");
  auto other = Open();
  EXPECT_EQ(other->GetOrCreateSecret("s", "third"), "first");
}

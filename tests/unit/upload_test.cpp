// Upload-flow building blocks: the SSRF address policy (pure: no packet is sent), URL
// signing with key rotation, the metadata of resumable uploads and idempotency keys, and
// resumable staging in the filesystem store.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "blob/fs_blob_store.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/ids.h"
#include "core/url_signer.h"
#include "meta/sqlite_meta_store.h"
#include "net/address_policy.h"
#include "store_fixtures.h"
#include "test_util.h"

using namespace imgd;
using namespace imgd::testing;
namespace ip = boost::asio::ip;

namespace {

std::string Refusal(const AddressPolicy& p, const char* address, uint16_t port = 80) {
  return p.Refusal(ip::make_address(address), port);
}

TEST(AddressPolicy, RefusesEverySpecialRange) {
  AddressPolicy policy;
  const char* refused[] = {
      // IPv4
      "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
      "127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1",
      "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.0.1", "192.168.255.255",
      "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250",
      "240.0.0.1", "255.255.255.255",
      // IPv6
      "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "ff05::2",
      "2001:db8::1", "100::1", "2001::1", "::7f00:1",
      // IPv4 inside IPv6: mapped, NAT64, 6to4
      "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:192.168.1.1",
      "::ffff:0.0.0.0", "64:ff9b::a00:1", "64:ff9b::7f00:1", "2002:c0a8:101::1", "2002:7f00:1::"};
  for (const char* a : refused) {
    EXPECT_FALSE(Refusal(policy, a).empty()) << a << " must be refused";
    EXPECT_FALSE(SpecialRange(ip::make_address(a)).empty()) << a;
  }
}

TEST(AddressPolicy, AllowsPublicUnicast) {
  AddressPolicy policy;
  const char* allowed[] = {
      "8.8.8.8",        "1.1.1.1",        "93.184.216.34",    "100.63.255.255",  "100.128.0.0",
      "172.15.255.255", "172.32.0.0",     "192.167.255.255",  "223.255.255.255", "2606:4700::1111",
      "2a00:1450::1",   "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"};
  for (const char* a : allowed) {
    EXPECT_EQ(Refusal(policy, a), "") << a << " must be allowed";
  }
}

TEST(AddressPolicy, AllowListOpensExactlyWhatItNames) {
  AddressPolicy policy(
      AddressPolicy::ParseAllowList("127.0.0.1:8081,10.1.0.0/16,[::1]:9000,[fd00::]/8"));
  EXPECT_EQ(Refusal(policy, "127.0.0.1", 8081), "");
  EXPECT_NE(Refusal(policy, "127.0.0.1", 8082), "");  // another port of the same host
  EXPECT_NE(Refusal(policy, "127.0.0.2", 8081), "");
  EXPECT_EQ(Refusal(policy, "::ffff:127.0.0.1", 8081), "");  // mapped form of an allowed one
  EXPECT_EQ(Refusal(policy, "10.1.200.3", 1), "");
  EXPECT_NE(Refusal(policy, "10.2.0.1", 1), "");
  EXPECT_EQ(Refusal(policy, "::1", 9000), "");
  EXPECT_NE(Refusal(policy, "::1", 9001), "");
  EXPECT_EQ(Refusal(policy, "fd99::5", 443), "");
  EXPECT_NE(Refusal(policy, "fe80::1", 443), "");
  for (const char* bad : {"nonsense", "10.0.0.0/33", "127.0.0.1:0", "[::1", "1.2.3.4:99999"}) {
    EXPECT_THROW(AddressPolicy::ParseAllowList(bad), std::invalid_argument) << bad;
  }
  EXPECT_TRUE(AddressPolicy::ParseAllowList("").empty());
}

TEST(UrlSigner, SignsVerifiesAndRotates) {
  UrlSigner old_only(std::vector<UrlSigner::Key>{{"k1", "0123456789abcdef-old"}});
  auto sig = old_only.Sign("PUT\n/x\n42");
  EXPECT_EQ(sig.key_id, "k1");
  EXPECT_TRUE(old_only.Verify("k1", "PUT\n/x\n42", sig.sig));
  EXPECT_FALSE(old_only.Verify("k1", "PUT\n/x\n43", sig.sig));    // message altered
  EXPECT_FALSE(old_only.Verify("k1", "PATCH\n/x\n42", sig.sig));  // method altered
  EXPECT_FALSE(old_only.Verify("k2", "PUT\n/x\n42", sig.sig));    // unknown key id
  std::string flipped = sig.sig;
  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(old_only.Verify("k1", "PUT\n/x\n42", flipped));
  EXPECT_FALSE(old_only.Verify("k1", "PUT\n/x\n42", ""));

  // Rotation: the new key signs, the old one still verifies what it signed.
  UrlSigner rotated(UrlSigner::ParseKeys("k2:0123456789abcdef-new,k1:0123456789abcdef-old"));
  EXPECT_TRUE(rotated.Verify("k1", "PUT\n/x\n42", sig.sig));
  auto fresh = rotated.Sign("m");
  EXPECT_EQ(fresh.key_id, "k2");
  EXPECT_FALSE(old_only.Verify(fresh.key_id, "m", fresh.sig));

  using Keys = std::vector<UrlSigner::Key>;
  EXPECT_THROW(UrlSigner(Keys{}), std::invalid_argument);
  EXPECT_THROW(UrlSigner(Keys{{"k1", "short"}}), std::invalid_argument);
  EXPECT_THROW(UrlSigner(Keys{{"bad id!", "0123456789abcdef"}}), std::invalid_argument);
  EXPECT_THROW(UrlSigner(Keys{{"a", "0123456789abcdef"}, {"a", "0123456789abcdefg"}}),
               std::invalid_argument);
  EXPECT_THROW(UrlSigner::ParseKeys("no-colon"), std::invalid_argument);
}

TEST(Hmac, MatchesRfc4231) {
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode({reinterpret_cast<const unsigned char*>(
                           HmacSha256("Jefe", "what do ya want for nothing?").data()),
                       32}),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
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
  store_->SetUploadImage(u.id, "img-1");
  EXPECT_EQ(store_->GetUpload(u.id)->image_id, "img-1");
  EXPECT_TRUE(store_->DeleteExpiredUploads(5000).empty());
  EXPECT_EQ(store_->DeleteExpiredUploads(5001), std::vector<std::string>{u.id});
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

// Signed content URLs (core/signed_url) and the read rules built on them
// (service/content_access).
#include "core/signed_url.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "http/response.h"
#include "http/target.h"
#include "service/content_access.h"

namespace imgd {
namespace {

const std::string kPath = "/v1/images/0190f0a0-0000-7000-8000-000000000001/content";

UrlSigner Signer() {
  return UrlSigner({{"new", "new-secret-0123456789"}, {"old", "old-secret-0123456789"}});
}

QueryParams ParseQuery(const std::string& q) { return http::ParseTarget(kPath + "?" + q)->query; }

TEST(SignedUrl, RoundTripsAndCoversPathAndEveryParameter) {
  UrlSigner s = Signer();
  const std::string q = SignedUrlQuery(s, kPath, {{"w", "300"}, {"h", "200"}}, 2000);
  EXPECT_EQ(q.find("expires=2000&h=200&kid=new&sig="), std::string::npos);  // sorted: h first
  EXPECT_EQ(q.rfind("expires=2000&h=200&kid=new&w=300&sig=", 0), 0u) << q;
  QueryParams p = ParseQuery(q);
  EXPECT_EQ(VerifySignedUrl(s, kPath, p, 1999), SignatureCheck::kValid);
  EXPECT_EQ(VerifySignedUrl(s, kPath, p, 2000), SignatureCheck::kValid);
  EXPECT_EQ(VerifySignedUrl(s, kPath, p, 2001), SignatureCheck::kExpired);
  // Another image, another size, an added or removed parameter, a later expiry: all fail.
  EXPECT_EQ(VerifySignedUrl(s, "/v1/images/0190f0a0-0000-7000-8000-000000000002/content", p, 0),
            SignatureCheck::kInvalid);
  for (auto change : {std::pair<std::string, std::string>{"w", "301"},
                      {"q", "100"},
                      {"expires", "2001"},
                      {"kid", "old"}}) {
    QueryParams t = p;
    t[change.first] = change.second;
    EXPECT_EQ(VerifySignedUrl(s, kPath, t, 0), SignatureCheck::kInvalid) << change.first;
  }
  QueryParams dropped = p;
  dropped.erase("h");
  EXPECT_EQ(VerifySignedUrl(s, kPath, dropped, 0), SignatureCheck::kInvalid);
  QueryParams flipped = p;
  flipped["sig"][0] = flipped["sig"][0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(VerifySignedUrl(s, kPath, flipped, 0), SignatureCheck::kInvalid);
}

TEST(SignedUrl, KeysRotateById) {
  UrlSigner old_only(std::vector<UrlSigner::Key>{{"old", "old-secret-0123456789"}});
  QueryParams p = ParseQuery(SignedUrlQuery(old_only, kPath, {}, 5000));
  // A server that signs with "new" still accepts what "old" signed...
  EXPECT_EQ(VerifySignedUrl(Signer(), kPath, p, 0), SignatureCheck::kValid);
  // ...until "old" is dropped.
  UrlSigner new_only(std::vector<UrlSigner::Key>{{"new", "new-secret-0123456789"}});
  EXPECT_EQ(VerifySignedUrl(new_only, kPath, p, 0), SignatureCheck::kInvalid);
  // The same id with another secret is a forgery.
  UrlSigner other(std::vector<UrlSigner::Key>{{"old", "another-secret-0123456789"}});
  EXPECT_EQ(VerifySignedUrl(other, kPath, p, 0), SignatureCheck::kInvalid);
}

TEST(SignedUrl, MalformedAndAbsent) {
  UrlSigner s = Signer();
  EXPECT_EQ(VerifySignedUrl(s, kPath, {{"w", "1"}}, 0), SignatureCheck::kAbsent);
  EXPECT_EQ(VerifySignedUrl(s, kPath, {{"sig", "x"}}, 0), SignatureCheck::kMalformed);
  EXPECT_EQ(VerifySignedUrl(s, kPath, {{"expires", "1"}, {"kid", "new"}}, 0),
            SignatureCheck::kMalformed);
  const std::string sig(43, 'A');
  for (const char* e : {"", "-5", "1e9", "12345678901234", " 5", "0x10"}) {
    EXPECT_EQ(VerifySignedUrl(s, kPath, {{"expires", e}, {"kid", "new"}, {"sig", sig}}, 0),
              SignatureCheck::kMalformed)
        << e;
  }
  EXPECT_EQ(VerifySignedUrl(s, kPath, {{"expires", "5"}, {"kid", "new"}, {"sig", "short"}}, 0),
            SignatureCheck::kMalformed);
  EXPECT_EQ(VerifySignedUrl(s, kPath, {{"expires", "5"}, {"kid", "nope"}, {"sig", sig}}, 0),
            SignatureCheck::kInvalid);
}

TEST(SignedUrl, ValuesAreEncodedCanonically) {
  // Values with reserved characters sign and verify after a trip through a real URL.
  UrlSigner s = Signer();
  QueryParams in = {{"a b", "c&d=e"}, {"x", "100%"}, {"u", "é"}};
  QueryParams p = ParseQuery(SignedUrlQuery(s, kPath, in, 10));
  EXPECT_EQ(p.at("a b"), "c&d=e");
  EXPECT_EQ(VerifySignedUrl(s, kPath, p, 0), SignatureCheck::kValid);
  EXPECT_EQ(CanonicalSignedQuery({{"b", "2"}, {"a", "1"}, {"sig", "zz"}}), "a=1&b=2");
}

TEST(SignedUrl, ExpiryIsStableWithinAStep) {
  // ttl 3600 → steps of 900 s: every URL made in one step carries the same expiry.
  EXPECT_EQ(SignedUrlExpiry(900, 3600), 4500);
  EXPECT_EQ(SignedUrlExpiry(901, 3600), 5400);
  EXPECT_EQ(SignedUrlExpiry(1800, 3600), 5400);
  EXPECT_EQ(SignedUrlExpiry(1801, 3600), 6300);
  for (int64_t now = 0; now < 5000; now += 37) {
    int64_t e = SignedUrlExpiry(now, 3600);
    EXPECT_GE(e, now + 3600);
    EXPECT_LT(e, now + 3600 + 900);
  }
  EXPECT_EQ(SignedUrlExpiry(0, 60) % 60, 0);
}

Image TestImage(const char* visibility) {
  Image im;
  im.id = "0190f0a0-0000-7000-8000-000000000001";
  im.user_id = "owner";
  im.visibility = visibility;
  return im;
}

int Status(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    // As the API answers it (the corpus manifest lists HTTP statuses).
    return static_cast<int>(http::HttpStatus(e.code()));
  }
  return 0;
}

TEST(ContentAccess, PublicImagesAreOpenUnlessSignedDeliveryIsOn) {
  UrlSigner s = Signer();
  ContentAccessOptions o;
  o.base_url = "http://cdn";
  o.cache_control = "public, max-age=31536000, immutable";
  ContentAccess open(s, o);
  Image pub = TestImage(kVisibilityPublic);
  EXPECT_EQ(open.Url(pub), "http://cdn" + kPath);
  EXPECT_EQ(open.Url(pub, {{"w", "10"}}), "http://cdn" + kPath + "?w=10");
  EXPECT_EQ(open.Authorize(pub, 0, nullptr), ReadGrant::kOpen);
  EXPECT_EQ(open.CacheControl(pub, ReadGrant::kOpen, 0, 0), o.cache_control);

  o.signed_delivery = true;
  ContentAccess signed_only(s, o);
  EXPECT_EQ(Status([&] { signed_only.Authorize(pub, 0, nullptr); }), 403);
  const std::string url = signed_only.Url(pub, {{"w", "10"}});
  ASSERT_EQ(url.rfind("http://cdn" + kPath + "?expires=", 0), 0u) << url;
  QueryParams q = http::ParseTarget(url.substr(std::string("http://cdn").size()))->query;
  const int64_t until = signed_only.CheckSignature(kPath, q, 0);
  EXPECT_GT(until, 0);
  EXPECT_EQ(q, (QueryParams{{"w", "10"}}));  // the signature parameters are gone
  EXPECT_EQ(signed_only.Authorize(pub, until, nullptr), ReadGrant::kSigned);
  EXPECT_EQ(signed_only.CacheControl(pub, ReadGrant::kSigned, 1000, 400), "public, max-age=600");
}

TEST(ContentAccess, PrivateImagesNeedASignatureOrTheOwner) {
  UrlSigner s = Signer();
  ContentAccess access(s, ContentAccessOptions{});
  Image priv = TestImage(kVisibilityPrivate);
  User owner, other, admin;
  owner.id = "owner";
  other.id = "other";
  admin.id = "admin";
  admin.is_admin = true;
  EXPECT_EQ(Status([&] { access.Authorize(priv, 0, nullptr); }), 403);
  EXPECT_EQ(Status([&] { access.Authorize(priv, 0, &other); }), 403);
  EXPECT_EQ(access.Authorize(priv, 0, &owner), ReadGrant::kOwner);
  EXPECT_EQ(access.Authorize(priv, 0, &admin), ReadGrant::kOwner);
  EXPECT_EQ(access.Authorize(priv, 50, nullptr), ReadGrant::kSigned);
  EXPECT_EQ(access.CacheControl(priv, ReadGrant::kSigned, 1000, 400), "private, max-age=600");
  EXPECT_EQ(access.CacheControl(priv, ReadGrant::kOwner, 0, 400), "private, no-cache");
  EXPECT_NE(access.Url(priv).find("&sig="), std::string::npos);
}

TEST(ContentAccess, BadSignaturesAreRefusedEvenWhereNoneIsNeeded) {
  UrlSigner s = Signer();
  ContentAccess access(s, ContentAccessOptions{});
  QueryParams forged = {{"expires", "99999999999"}, {"kid", "new"}, {"sig", std::string(43, 'A')}};
  EXPECT_EQ(Status([&] { access.CheckSignature(kPath, forged, 0); }), 403);
  QueryParams expired = ParseQuery(SignedUrlQuery(s, kPath, {}, 10));
  try {
    access.CheckSignature(kPath, expired, 11);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(e.slug(), "signature-expired");
  }
  QueryParams none = {{"w", "5"}};
  EXPECT_EQ(access.CheckSignature(kPath, none, 0), 0);
}

}  // namespace
}  // namespace imgd

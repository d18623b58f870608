// HMAC-SHA256 against RFC 4231, and URL signing with key rotation.
#include "core/url_signer.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/ids.h"
#include "service/upload_token.h"

using namespace imgd;

namespace {

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

}  // namespace

TEST(UploadToken, CarriesTheDeclaredSha256UnderTheSignature) {
  UrlSigner signer(std::vector<UrlSigner::Key>{{"k1", "0123456789abcdef0123"}});
  const std::string id = "0190f0a0-0000-7000-8000-000000000001";
  const std::string sha(64, 'a');
  const std::string token =
      MakeUploadToken(signer, "PUT", id, 10, 2000000000, DuplicatePolicy::kReturnExisting, sha);
  auto t = VerifyUploadToken(signer, "PUT", token);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sha256, sha);
  EXPECT_EQ(t->size, 10u);
  // Another hash in its place breaks the signature; a token without one still verifies.
  std::string forged = token;
  forged.replace(forged.find(sha), 64, std::string(64, 'b'));
  EXPECT_FALSE(VerifyUploadToken(signer, "PUT", forged));
  auto plain = VerifyUploadToken(
      signer, "PUT", MakeUploadToken(signer, "PUT", id, 10, 2000000000, DuplicatePolicy::kNew));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->sha256, "");
  EXPECT_TRUE(IsSha256Hex(sha));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
}

#pragma once
// The pre-signed upload URL's token:
// u1.<imageId>.<size>.<expires>.<policy>[.<sha256>].<keyId>.<sig>, an HMAC-SHA256 (core/url_signer)
// over the method, the path and everything before the key id. Pure functions, so the verifier can
// be fuzzed on its own.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/types.h"
#include "core/url_signer.h"

namespace imgd {

struct UploadToken {
  std::string image_id;
  uint64_t size = 0;
  int64_t expires_s = 0;
  DuplicatePolicy policy = DuplicatePolicy::kReturnExisting;
  std::string sha256;  // the bytes' declared SHA-256 (lower-case hex), or empty
  std::string key_id;
  std::string sig;
  std::string signed_part;  // "u1.<id>.<size>.<expires>.<policy>[.<sha256>]"
};

// True when a path segment has the token's shape prefix ("u1.").
bool LooksLikeUploadToken(std::string_view segment);
// The token made for an upload (the URL path segment after /v1/uploads/).
std::string MakeUploadToken(const UrlSigner& signer, std::string_view method,
                            const std::string& image_id, uint64_t size, int64_t expires_s,
                            DuplicatePolicy policy, const std::string& sha256 = "");
// True for 64 lower-case hex digits.
bool IsSha256Hex(std::string_view s);
// The token's fields when it is well formed and its signature is valid for method; nullopt
// otherwise (expiry is the caller's check: it needs the clock).
std::optional<UploadToken> VerifyUploadToken(const UrlSigner& signer, std::string_view method,
                                             std::string_view text);

}  // namespace imgd

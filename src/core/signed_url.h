#pragma once
// Signed content URLs: <path>?<params>&expires=<unix s>&kid=<key id>&sig=<base64url>, where
// sig is HMAC-SHA256 (core/url_signer, so keys rotate by id) over a fixed prefix, the
// decoded path and the canonical query: every parameter but sig, names and values
// percent-encoded (RFC 3986), sorted. Changing, adding or removing any parameter the
// server reads breaks the signature. Pure functions, so the verifier can be fuzzed.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/url_signer.h"

namespace imgd {

using QueryParams = std::map<std::string, std::string>;

// Sorted, percent-encoded "a=1&b=2" of every parameter except sig.
std::string CanonicalSignedQuery(const QueryParams& query);

// The query string (no '?') of path signed until expires_s: params, expires, kid, sig.
std::string SignedUrlQuery(const UrlSigner& signer, std::string_view path, QueryParams params,
                           int64_t expires_s);

enum class SignatureCheck {
  kAbsent,     // none of expires, kid, sig is present
  kMalformed,  // some present, or one malformed (expires not a decimal Unix time...)
  kInvalid,    // unknown key id or a signature that does not match
  kExpired,    // valid signature, expires in the past
  kValid,
};
// Checks query's signature for path at now_s. Constant time in the signature compare.
// expires_s, when given, receives the parsed expiry once the signature is well formed.
SignatureCheck VerifySignedUrl(const UrlSigner& signer, std::string_view path,
                               const QueryParams& query, int64_t now_s,
                               int64_t* expires_s = nullptr);

// True for the parameters the signature adds (expires, kid, sig).
bool IsSignatureParam(std::string_view name);

// An expiry at least ttl_s from now, rounded up to a step of a quarter of ttl_s (at least
// a minute), so the URLs handed out within a step are identical and a CDN caches one copy.
int64_t SignedUrlExpiry(int64_t now_s, int64_t ttl_s);

}  // namespace imgd

#include "core/signed_url.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "core/ids.h"

namespace imgd {
namespace {

// Keeps these signatures apart from any other use of the same keys.
constexpr std::string_view kDomain = "imgd-content-v1\n";

std::string Message(std::string_view path, const QueryParams& query) {
  std::string m(kDomain);
  m += path;
  m += '?';
  m += CanonicalSignedQuery(query);
  return m;
}

}  // namespace

bool IsSignatureParam(std::string_view name) {
  return name == "expires" || name == "kid" || name == "sig";
}

std::string CanonicalSignedQuery(const QueryParams& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) {
    if (k != "sig") enc.emplace_back(UriEncode(k, true), UriEncode(v, true));
  }
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string SignedUrlQuery(const UrlSigner& signer, std::string_view path, QueryParams params,
                           int64_t expires_s) {
  params.erase("sig");
  params["expires"] = std::to_string(expires_s);
  params["kid"] = signer.SigningKeyId();
  const std::string sig = signer.Sign(Message(path, params)).sig;
  return CanonicalSignedQuery(params) + "&sig=" + sig;
}

SignatureCheck VerifySignedUrl(const UrlSigner& signer, std::string_view path,
                               const QueryParams& query, int64_t now_s, int64_t* expires_out) {
  auto expires = query.find("expires");
  auto kid = query.find("kid");
  auto sig = query.find("sig");
  const int present = (expires != query.end()) + (kid != query.end()) + (sig != query.end());
  if (present == 0) return SignatureCheck::kAbsent;
  if (present != 3) return SignatureCheck::kMalformed;
  const std::string& e = expires->second;
  int64_t expires_s = 0;
  auto [p, ec] = std::from_chars(e.data(), e.data() + e.size(), expires_s);
  if (e.empty() || e.size() > 12 || ec != std::errc() || p != e.data() + e.size() ||
      expires_s < 0 || sig->second.size() != 43) {
    return SignatureCheck::kMalformed;
  }
  if (expires_out) *expires_out = expires_s;
  if (!signer.Verify(kid->second, Message(path, query), sig->second)) {
    return SignatureCheck::kInvalid;
  }
  return expires_s < now_s ? SignatureCheck::kExpired : SignatureCheck::kValid;
}

int64_t SignedUrlExpiry(int64_t now_s, int64_t ttl_s) {
  const int64_t step = std::max<int64_t>(60, ttl_s / 4);
  const int64_t earliest = now_s + ttl_s;
  return (earliest + step - 1) / step * step;
}

}  // namespace imgd

// The signed content URL verifier on arbitrary request targets, through the server's own
// target parser. A forged URL must never verify: with the fixed keys below, any target
// the fuzzer makes that passes is a finding. Each input's path and parameters are also
// signed for real, and that URL must verify, and stop verifying once any byte of its
// signature changes or once it has expired.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/ids.h"
#include "core/signed_url.h"
#include "core/url_signer.h"
#include "http/target.h"

namespace {
const imgd::UrlSigner& Signer() {
  static const imgd::UrlSigner signer(
      {{"k1", "fuzz-secret-0123456789abcdef"}, {"k0", "older-secret-0123456789abcdef"}});
  return signer;
}
constexpr int64_t kNow = 1'800'000'000;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto target = imgd::http::ParseTarget(text);
  if (!target) return 0;
  auto check = imgd::VerifySignedUrl(Signer(), target->path, target->query, kNow);
  if (check == imgd::SignatureCheck::kValid || check == imgd::SignatureCheck::kExpired) {
    __builtin_trap();  // forged yet valid
  }
  (void)imgd::CanonicalSignedQuery(target->query);

  imgd::QueryParams params;
  for (auto& [k, v] : target->query) {
    if (!imgd::IsSignatureParam(k)) params.emplace(k, v);
  }
  const int64_t expires = imgd::SignedUrlExpiry(kNow, 3600);
  const std::string signed_query = imgd::SignedUrlQuery(Signer(), target->path, params, expires);
  auto again = imgd::http::ParseTarget(imgd::UriEncode(target->path, false) + "?" + signed_query);
  if (!again || again->path != target->path) return 0;  // a path origin form cannot carry
  if (imgd::VerifySignedUrl(Signer(), again->path, again->query, kNow) !=
      imgd::SignatureCheck::kValid) {
    __builtin_trap();
  }
  if (imgd::VerifySignedUrl(Signer(), again->path, again->query, expires + 1) !=
      imgd::SignatureCheck::kExpired) {
    __builtin_trap();
  }
  std::string& sig = again->query["sig"];
  sig[size % sig.size()] = sig[size % sig.size()] == 'A' ? 'B' : 'A';
  if (imgd::VerifySignedUrl(Signer(), again->path, again->query, kNow) !=
      imgd::SignatureCheck::kInvalid) {
    __builtin_trap();
  }
  return 0;
}

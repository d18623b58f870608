// The pre-signed upload URL verifier on arbitrary path segments. A forged token must never
// verify: with the fixed key below, the only inputs that can pass are ones the fuzzer
// cannot make without the secret, so any success is a finding. Well-formed, correctly
// signed tokens are checked to round-trip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/url_signer.h"
#include "service/upload_token.h"

namespace {
const imgd::UrlSigner& Signer() {
  static const imgd::UrlSigner signer(
      {{"k1", "fuzz-secret-0123456789abcdef"}, {"k0", "older-secret-0123456789abcdef"}});
  return signer;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)imgd::LooksLikeUploadToken(text);
  if (imgd::VerifyUploadToken(Signer(), "PUT", text)) __builtin_trap();  // forged yet valid
  if (size >= 8) {
    // A real token for sizes/expiries from the input must verify, and only for PUT.
    uint64_t n = 0;
    for (size_t i = 0; i < 8; ++i) n = n << 8 | data[i];
    const std::string token =
        imgd::MakeUploadToken(Signer(), "PUT", "0190f0a0-0000-7000-8000-000000000001", n,
                              static_cast<int64_t>(n >> 1), imgd::DuplicatePolicy::kReject);
    auto t = imgd::VerifyUploadToken(Signer(), "PUT", token);
    if (!t || t->size != n) __builtin_trap();
    if (imgd::VerifyUploadToken(Signer(), "POST", token)) __builtin_trap();
  }
  return 0;
}

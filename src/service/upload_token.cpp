#include "service/upload_token.h"

#include <charconv>
#include <vector>

#include "core/ids.h"
#include "core/types.h"

namespace imgd {
namespace {

constexpr std::string_view kTokenVersion = "u1";

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t p = s.find(sep);
    out.push_back(s.substr(0, p));
    if (p == std::string_view::npos) return out;
    s.remove_prefix(p + 1);
  }
}

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::string TokenMessage(std::string_view method, std::string_view signed_part) {
  return std::string(method) + "\n/v1/uploads\n" + std::string(signed_part);
}

std::optional<UploadToken> ParseToken(std::string_view text) {
  auto parts = Split(text, '.');
  if ((parts.size() != 7 && parts.size() != 8) || parts[0] != kTokenVersion) return std::nullopt;
  UploadToken t;
  if (parts.size() == 8) {
    if (!IsSha256Hex(parts[5])) return std::nullopt;
    t.sha256 = std::string(parts[5]);
    parts.erase(parts.begin() + 5);
  }
  t.image_id = std::string(parts[1]);
  auto policy = ParsePolicyName(parts[4]);
  if (!IsUuid(t.image_id) || !ParseNumber(parts[2], t.size) ||
      !ParseNumber(parts[3], t.expires_s) || !policy) {
    return std::nullopt;
  }
  t.policy = *policy;
  t.key_id = std::string(parts[5]);
  t.sig = std::string(parts[6]);
  t.signed_part = std::string(text.substr(0, text.size() - parts[5].size() - parts[6].size() - 2));
  return t;
}

}  // namespace

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool LooksLikeUploadToken(std::string_view segment) {
  return segment.size() > kTokenVersion.size() &&
         segment.substr(0, kTokenVersion.size()) == kTokenVersion &&
         segment[kTokenVersion.size()] == '.';
}

std::string MakeUploadToken(const UrlSigner& signer, std::string_view method,
                            const std::string& image_id, uint64_t size, int64_t expires_s,
                            DuplicatePolicy policy, const std::string& sha256) {
  std::string signed_part = std::string(kTokenVersion) + "." + image_id + "." +
                            std::to_string(size) + "." + std::to_string(expires_s) + "." +
                            PolicyName(policy);
  if (!sha256.empty()) signed_part += "." + sha256;
  auto sig = signer.Sign(TokenMessage(method, signed_part));
  return signed_part + "." + sig.key_id + "." + sig.sig;
}

std::optional<UploadToken> VerifyUploadToken(const UrlSigner& signer, std::string_view method,
                                             std::string_view text) {
  std::optional<UploadToken> token = ParseToken(text);
  if (!token ||
      !signer.Verify(token->key_id, TokenMessage(method, token->signed_part), token->sig)) {
    return std::nullopt;
  }
  return token;
}

}  // namespace imgd

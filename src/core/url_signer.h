#pragma once
// HMAC-SHA256 signatures for URLs, with key ids so keys can be rotated: the first key
// signs, every listed key verifies (add the new key first, drop the old one once the URLs
// it signed have expired).
#include <string>
#include <string_view>
#include <vector>

namespace imgd {

class UrlSigner {
 public:
  struct Key {
    std::string id;      // [A-Za-z0-9_-]{1,32}, travels in the URL
    std::string secret;  // at least 16 bytes
  };
  // Throws std::invalid_argument when keys is empty or a key is malformed or repeated.
  explicit UrlSigner(std::vector<Key> keys);

  // "id:secret,id2:secret2" → keys; throws std::invalid_argument when malformed.
  static std::vector<Key> ParseKeys(std::string_view spec);

  struct Signature {
    std::string key_id;
    std::string sig;  // base64url, no padding
  };
  Signature Sign(std::string_view message) const;
  const std::string& SigningKeyId() const { return keys_.front().id; }
  // True when sig is message's signature under the key named key_id (constant time).
  bool Verify(std::string_view key_id, std::string_view message, std::string_view sig) const;

 private:
  std::vector<Key> keys_;
};

}  // namespace imgd

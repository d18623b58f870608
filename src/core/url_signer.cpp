#include "core/url_signer.h"

#include <stdexcept>

#include "core/hash.h"
#include "core/ids.h"

namespace imgd {
namespace {

bool ValidKeyId(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

UrlSigner::UrlSigner(std::vector<Key> keys) : keys_(std::move(keys)) {
  if (keys_.empty()) throw std::invalid_argument("at least one signing key is needed");
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (!ValidKeyId(keys_[i].id)) {
      throw std::invalid_argument("signing key id must be 1-32 of [A-Za-z0-9_-]");
    }
    if (keys_[i].secret.size() < 16) {
      throw std::invalid_argument("signing key '" + keys_[i].id + "' is shorter than 16 bytes");
    }
    for (size_t j = 0; j < i; ++j) {
      if (keys_[j].id == keys_[i].id) {
        throw std::invalid_argument("signing key id '" + keys_[i].id + "' is repeated");
      }
    }
  }
}

std::vector<UrlSigner::Key> UrlSigner::ParseKeys(std::string_view spec) {
  std::vector<Key> keys;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    size_t colon = item.find(':');
    if (colon == std::string_view::npos) {
      throw std::invalid_argument("signing keys are id:secret pairs separated by commas");
    }
    keys.push_back({std::string(item.substr(0, colon)), std::string(item.substr(colon + 1))});
  }
  return keys;
}

UrlSigner::Signature UrlSigner::Sign(std::string_view message) const {
  return {keys_.front().id, Base64UrlEncode(HmacSha256(keys_.front().secret, message))};
}

bool UrlSigner::Verify(std::string_view key_id, std::string_view message,
                       std::string_view sig) const {
  for (const Key& k : keys_) {
    if (k.id == key_id) return SafeEqual(Base64UrlEncode(HmacSha256(k.secret, message)), sig);
  }
  return false;
}

}  // namespace imgd

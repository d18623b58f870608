#include "core/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>
#include <vector>

#include "core/byte_source.h"
#include "core/errors.h"
#include "core/ids.h"

namespace imgd {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("sha256 init failed");
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(const void* data, size_t n) {
  if (EVP_DigestUpdate(ctx_, data, n) != 1) throw std::runtime_error("sha256 update failed");
}

std::string Sha256::FinalHex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, md, &len) != 1) throw std::runtime_error("sha256 final failed");
  return HexEncode({md, len});
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.FinalHex();
}

void HashPrefix(ByteSource& src, uint64_t length, Sha256& hasher) {
  std::vector<char> buf(1 << 20);
  for (uint64_t off = 0; off < length;) {
    size_t n = src.ReadAt(off, buf.data(), std::min<uint64_t>(buf.size(), length - off));
    if (n == 0) throw StoreError("stored bytes end before their expected size");
    hasher.Update(buf.data(), n);
    off += n;
  }
}

std::string HmacSha256(std::string_view key, std::string_view message) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), md, &len)) {
    throw std::runtime_error("hmac-sha256 failed");
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

bool SafeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace imgd

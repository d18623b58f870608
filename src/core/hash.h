#pragma once
// Streaming SHA-256 (OpenSSL EVP). Not thread-safe: one instance per stream.
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace imgd {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t n);
  // Lowercase hex digest; the object is spent afterwards.
  std::string FinalHex();

 private:
  evp_md_ctx_st* ctx_;
};

std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256 of message under key.
std::string HmacSha256(std::string_view key, std::string_view message);
// Constant-time equality (for comparing signatures).
bool SafeEqual(std::string_view a, std::string_view b);

}  // namespace imgd

#pragma once
// Streaming SHA-256 (OpenSSL EVP). Not thread-safe: one instance per stream.
#include <cstdint>
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

class ByteSource;
// Feeds bytes [0, length) of src into hasher, streamed in 1 MiB reads (blocking). Throws
// StoreError when src is shorter.
void HashPrefix(ByteSource& src, uint64_t length, Sha256& hasher);
// Raw 32-byte HMAC-SHA256 of message under key.
std::string HmacSha256(std::string_view key, std::string_view message);
// Constant-time equality (for comparing signatures).
bool SafeEqual(std::string_view a, std::string_view b);

}  // namespace imgd

#include "core/ids.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>

namespace imgd {

void FillRandom(unsigned char* p, size_t n) {
  if (RAND_bytes(p, static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
}

std::string NewUuidV7() {
  // 48-bit unix ms, then a 12-bit counter (rand_a) that keeps ids monotonic within a ms,
  // then 62 random bits.
  static std::mutex mu;
  static uint64_t last_ms = 0;
  static uint16_t counter = 0;
  uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  uint16_t seq;
  {
    std::lock_guard lock(mu);
    if (ms <= last_ms) {
      ms = last_ms;
      if (++counter > 0x0fff) {  // counter exhausted: borrow the next millisecond
        ++ms;
        counter = 0;
      }
    } else {
      unsigned char r[2];
      FillRandom(r, 2);
      counter = static_cast<uint16_t>(((r[0] << 8) | r[1]) & 0x01ff);  // leave headroom
    }
    last_ms = ms;
    seq = counter;
  }
  std::array<unsigned char, 16> b{};
  for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(ms >> (40 - 8 * i));
  b[6] = static_cast<unsigned char>(0x70 | ((seq >> 8) & 0x0f));
  b[7] = static_cast<unsigned char>(seq & 0xff);
  FillRandom(b.data() + 8, 8);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  std::string hex = HexEncode(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

uint64_t FastRandom64() {
  // SplitMix64 (Steele, Lea, Flood 2014): a few instructions per value, good statistical
  // quality, seeded once per thread. Ids need uniqueness, not secrecy.
  thread_local uint64_t state = [] {
    std::array<unsigned char, 8> seed{};
    FillRandom(seed.data(), seed.size());
    uint64_t v = 0;
    for (unsigned char c : seed) v = (v << 8) | c;
    return v;
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void WriteHex16(uint64_t v, char* out) {
  // Two digits per table look-up (ids are written for every request).
  static constexpr auto kPairs = [] {
    std::array<char, 512> t{};
    constexpr char kHex[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b) {
      t[2 * b] = kHex[b >> 4];
      t[2 * b + 1] = kHex[b & 15];
    }
    return t;
  }();
  for (int i = 7; i >= 0; --i, v >>= 8) std::memcpy(out + 2 * i, &kPairs[2 * (v & 0xff)], 2);
}

std::string NewRequestId() {
  std::string out;
  AssignRequestId(out);
  return out;
}

void AssignRequestId(std::string& out) {
  const uint64_t ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  const uint64_t hi = (ms << 16) | 0x7000 | (FastRandom64() & 0x0fff);
  const uint64_t lo = (FastRandom64() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char hex[32];
  WriteHex16(hi, hex);
  WriteHex16(lo, hex + 16);
  out.resize(36);
  char* p = out.data();  // 8-4-4-4-12
  std::memcpy(p, hex, 8);
  p[8] = '-';
  std::memcpy(p + 9, hex + 8, 4);
  p[13] = '-';
  std::memcpy(p + 14, hex + 12, 4);
  p[18] = '-';
  std::memcpy(p + 19, hex + 16, 4);
  p[23] = '-';
  std::memcpy(p + 24, hex + 20, 12);
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string RandomToken(size_t n) {
  std::string raw(n, '\0');
  FillRandom(reinterpret_cast<unsigned char*>(raw.data()), n);
  return Base64UrlEncode(raw);
}

std::string HexEncode(std::span<const unsigned char> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string s = Base64Encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

bool Base64UrlDecode(std::string_view in, std::string& out) {
  std::string s(in);
  for (char& c : s) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!std::isalnum(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  size_t pad = (4 - s.size() % 4) % 4;
  if (pad == 3) return false;
  s.append(pad, '=');
  out.assign(s.size() / 4 * 3 + 1, '\0');
  int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return false;
  out.resize(static_cast<size_t>(n) - pad);
  return true;
}

std::string UriEncode(std::string_view s, bool encode_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace imgd

#pragma once
// Identifiers and secrets: UUIDv7 ids (time-ordered, never sequential) and random tokens.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace imgd {

// A new UUIDv7 in canonical text form. Monotonic within this process: ids made later
// sort after earlier ones, even within one millisecond. Thread-safe.
std::string NewUuidV7();

// 64 random bits from a per-thread generator seeded once from the system's randomness: no
// lock, no syscall. Unique in practice, not secret: never for keys, tokens or image ids.
uint64_t FastRandom64();
// v as 16 lowercase hex digits at out (most significant first).
void WriteHex16(uint64_t v, char* out);

// A request id: UUIDv7 layout from a per-thread generator seeded once from the system's
// randomness. Unique in practice but neither secret nor monotonic; no lock, no syscall (it
// runs for every request). Never use it for anything that must be unguessable.
std::string NewRequestId();
// The same into out, reusing its storage.
void AssignRequestId(std::string& out);

// True when s is a canonical lowercase or uppercase UUID text (8-4-4-4-12 hex).
bool IsUuid(std::string_view s);

// n cryptographically random bytes (OpenSSL). Thread-safe.
void FillRandom(unsigned char* p, size_t n);

// `n` cryptographically random bytes as unpadded base64url. Thread-safe.
std::string RandomToken(size_t n);

std::string HexEncode(std::span<const unsigned char> bytes);
std::string Base64Encode(std::string_view bytes);
std::string Base64UrlEncode(std::string_view bytes);
// RFC 3986 percent-encoding of everything but A-Z a-z 0-9 - . _ ~ (and '/' unless
// encode_slash).
std::string UriEncode(std::string_view s, bool encode_slash);
// Returns false on malformed input.
bool Base64UrlDecode(std::string_view in, std::string& out);

}  // namespace imgd

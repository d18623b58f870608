#include "http/target.h"

#include <array>

namespace imgd::http {
namespace {

// RFC 3986 character classes for the origin form.
enum : uint8_t { kPchar = 1, kQuery = 2 };

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  auto set = [&t](const char* chars) {
    for (const char* c = chars; *c; ++c) t[static_cast<unsigned char>(*c)] = kPchar | kQuery;
  };
  set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
  set("-._~");         // unreserved
  set("!$&'()*+,;=");  // sub-delims
  set(":@");           // the rest of pchar
  t['/'] = kQuery;     // in a query; in a path it separates segments
  t['?'] = kQuery;
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Checks s (every byte of class `allowed`, '/' too when slash_ok, or a valid %XX).
bool Valid(std::string_view s, uint8_t allowed, bool slash_ok) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (kClasses[c] & allowed) continue;
    if (c == '/' && slash_ok) continue;
    if (c != '%' || i + 2 >= s.size() || HexValue(s[i + 1]) < 0 || HexValue(s[i + 2]) < 0) {
      return false;
    }
    i += 2;
  }
  return true;
}

// Percent-decodes an already validated s; '+' is a space in query parameters.
std::string Decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

// Hand-written (it runs for every request) with Boost.URL's parse_origin_form and params()
// as its reference: target_test.cpp checks they agree on every target it generates.
std::optional<Target> ParseTarget(std::string_view target) {
  if (target.empty() || target[0] != '/') return std::nullopt;
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (!Valid(path, kPchar, true)) return std::nullopt;
  Target out;
  out.path = Decode(path, false);
  if (q == std::string_view::npos) return out;
  const std::string_view query = target.substr(q + 1);
  if (!Valid(query, kQuery, true)) return std::nullopt;
  for (size_t start = 0;;) {
    const size_t amp = query.find('&', start);
    const std::string_view param =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    const size_t eq = param.find('=');
    out.query.emplace(Decode(param.substr(0, eq), true), eq == std::string_view::npos
                                                             ? std::string()
                                                             : Decode(param.substr(eq + 1), true));
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

namespace {
// kClasses without '+' (a space in a query) and with '/' as path character: one table look-up
// per byte decides whether a target is plain ('%' is in no class).
constexpr std::array<uint8_t, 256> MakePlainClasses() {
  std::array<uint8_t, 256> t = kClasses;
  t['+'] = 0;
  t['/'] = kPchar | kQuery;
  return t;
}
constexpr std::array<uint8_t, 256> kPlainClasses = MakePlainClasses();

// Every byte of s in class cls; no early exit, so the loop has no branch per byte.
bool AllPlain(std::string_view s, uint8_t cls) {
  uint8_t missing = 0;
  for (char c : s) missing |= static_cast<uint8_t>(~kPlainClasses[static_cast<uint8_t>(c)] & cls);
  return missing == 0;
}

}  // namespace

bool ParsePlainTarget(std::string_view target, PlainTarget& out) {
  if (target.empty() || target[0] != '/') return false;
  const size_t q = target.find('?');
  out.path = target.substr(0, q);
  out.param_count = 0;
  if (!AllPlain(out.path, kPchar)) return false;
  if (q == std::string_view::npos) return true;
  const std::string_view query = target.substr(q + 1);
  if (!AllPlain(query, kQuery)) return false;
  for (size_t start = 0;;) {
    if (out.param_count == PlainTarget::kMaxParams) return false;
    const size_t amp = query.find('&', start);
    const std::string_view param =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    const size_t eq = param.find('=');
    out.params[out.param_count++] = {param.substr(0, eq), eq == std::string_view::npos
                                                              ? std::string_view()
                                                              : param.substr(eq + 1)};
    if (amp == std::string_view::npos) return true;
    start = amp + 1;
  }
}

}  // namespace imgd::http

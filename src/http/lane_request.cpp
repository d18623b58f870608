#include "http/lane_request.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace imgd::http {

namespace {

enum : uint8_t { kTchar = 1, kValue = 2, kTarget = 4 };

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0x21; c <= 0x7e; ++c) t[c] = kValue | kTarget;
  t['\t'] = t[' '] = kValue;
  for (int c = '0'; c <= '9'; ++c) t[c] |= kTchar;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kTchar;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kTchar;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<uint8_t>(c)] |= kTchar;
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

bool All(std::string_view s, uint8_t cls) {
  for (char c : s) {
    if (!(kClasses[static_cast<uint8_t>(c)] & cls)) return false;
  }
  return true;
}

// ASCII case-insensitive equality with a lower-case literal.
bool NameIs(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if ((name[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

std::string_view TrimSpaces(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

void KeepFirst(std::string_view& slot, bool& seen, std::string_view value) {
  if (!seen) slot = value;
  seen = true;
}

// One field line (without its CRLF); false when outside the subset.
bool TakeField(std::string_view line, LaneRequest& out, bool (&seen)[5]) {
  const size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  const std::string_view name = line.substr(0, colon);
  const std::string_view raw = line.substr(colon + 1);
  if (!All(name, kTchar) || !All(raw, kValue)) return false;
  const std::string_view value = TrimSpaces(raw);
  // Dispatch on length first: most fields are none of these.
  switch (name.size()) {
    case 5:
      if (NameIs(name, "range")) return false;  // the general path answers ranges
      break;
    case 6:
      if (NameIs(name, "accept")) KeepFirst(out.accept, seen[0], value);
      if (NameIs(name, "expect")) return false;
      break;
    case 7:
      if (NameIs(name, "upgrade")) return false;
      break;
    case 10:
      if (NameIs(name, "connection")) {
        if (seen[1]) return false;
        seen[1] = true;
        if (NameIs(value, "close")) {
          out.keep_alive = false;
        } else if (!NameIs(value, "keep-alive")) {
          return false;
        }
      }
      break;
    case 11:
      if (NameIs(name, "traceparent")) KeepFirst(out.traceparent, seen[2], value);
      break;
    case 12:
      if (NameIs(name, "x-request-id")) KeepFirst(out.request_id, seen[3], value);
      break;
    case 13:
      if (NameIs(name, "if-none-match")) KeepFirst(out.if_none_match, seen[4], value);
      break;
    case 14:
      if (NameIs(name, "content-length")) return false;
      break;
    case 17:
      if (NameIs(name, "transfer-encoding")) return false;
      break;
    default:
      break;
  }
  return true;
}

}  // namespace

bool ParseLaneRequest(std::string_view bytes, LaneRequest& out) {
  constexpr std::string_view kMethod = "GET ", kVersion = " HTTP/1.1";
  out = LaneRequest{};
  if (!bytes.starts_with(kMethod)) return false;
  size_t line_end = bytes.find("\r\n");
  if (line_end == std::string_view::npos) return false;
  const std::string_view request_line = bytes.substr(0, line_end);
  if (request_line.size() <= kMethod.size() + kVersion.size() ||
      !request_line.ends_with(kVersion)) {
    return false;
  }
  out.target =
      request_line.substr(kMethod.size(), request_line.size() - kMethod.size() - kVersion.size());
  if (out.target.empty() || !All(out.target, kTarget)) return false;
  bool seen[5] = {};
  for (size_t pos = line_end + 2;;) {
    const char* lf =
        static_cast<const char*>(std::memchr(bytes.data() + pos, '\n', bytes.size() - pos));
    if (!lf) return false;  // no whole header
    const size_t end = static_cast<size_t>(lf - bytes.data());
    if (end == pos || bytes[end - 1] != '\r') return false;  // a bare LF
    const std::string_view line = bytes.substr(pos, end - 1 - pos);
    if (line.empty()) {
      out.header_size = end + 1;
      return true;
    }
    if (!TakeField(line, out, seen)) return false;
    pos = end + 1;
  }
}

}  // namespace imgd::http

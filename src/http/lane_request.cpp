#include "http/lane_request.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace imgd::http {

namespace {

constexpr std::array<bool, 256> MakeTchars() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<uint8_t>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTchars = MakeTchars();

bool IsToken(std::string_view s) {
  for (char c : s) {
    if (!kTchars[static_cast<uint8_t>(c)]) return false;
  }
  return true;
}

// The checks of values and targets, the longest runs of bytes, have no early exit: the
// compiler vectorises them.
bool IsFieldValue(std::string_view s) {  // visible ASCII, space, tab
  uint8_t bad = 0;
  for (char ch : s) {
    const auto c = static_cast<uint8_t>(ch);
    bad |= static_cast<uint8_t>(static_cast<uint8_t>(c - 0x20) > 0x5e) & (c != '\t');
  }
  return bad == 0;
}

bool IsVisible(std::string_view s) {  // visible ASCII
  uint8_t bad = 0;
  for (char ch : s) bad |= static_cast<uint8_t>(static_cast<uint8_t>(ch - 0x21) > 0x5d);
  return bad == 0;
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
  if (!IsToken(name) || !IsFieldValue(raw)) return false;
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
  if (!IsVisible(out.target)) return false;
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

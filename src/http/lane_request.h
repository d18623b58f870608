#pragma once
// The warm lane's own reading of a request header: a strict subset of HTTP/1.1 read in
// place, in one pass, without Beast's parser (about a fifth of a warm 304's instructions,
// most of them Beast's field-by-field parse and its allocation of every field).
//
// The subset: "GET <target> HTTP/1.1" with a target of visible ASCII; field lines
// "name: value" with a token name and a value of visible ASCII, spaces and tabs, each line
// ending in CRLF; no body (neither Content-Length nor Transfer-Encoding), no Expect, no
// Upgrade, no Range, at most one Connection, being exactly "keep-alive" or "close". Anything
// else (HTTP/1.0, obs-fold, bare LF, bytes over 0x7E, ...) is declined, and Beast reads the
// same bytes as it would have: the subset only ever accepts what Beast accepts, with the
// same meaning.
#include <cstddef>
#include <string_view>

namespace imgd::http {

struct LaneRequest {
  std::string_view target;
  // The first of each field, as Beast's find() gives it; empty when absent.
  std::string_view if_none_match;
  std::string_view accept;
  std::string_view request_id;  // X-Request-Id
  std::string_view traceparent;
  bool keep_alive = true;
  size_t header_size = 0;  // the bytes up to and including the blank line
};

// True and out filled (views into bytes) when bytes starts with a whole header in the subset;
// false otherwise (out's fields then unspecified).
bool ParseLaneRequest(std::string_view bytes, LaneRequest& out);

}  // namespace imgd::http

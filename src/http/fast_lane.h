#pragma once
// The warm lane: a GET answered from memory on the network thread, before routing, with no
// handler coroutine, no Response object and no allocation once a connection is warm (a
// cached variant, a 304). It runs with the request's id, trace, admission, access-log line
// and metrics like any request. A lane answers only what its route would answer exactly
// so (status, headers, body) and declines everything else, which takes the general path.
#include <boost/beast/http/status.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "core/memory_file.h"
#include "http/lane_request.h"
#include "http/response_head.h"
#include "http/target.h"

namespace imgd::http {

struct FastAnswer {
  boost::beast::http::status status = boost::beast::http::status::ok;
  // The header lines ("Name: value\r\n"), in the order the route's handler sets them; the
  // server adds X-Request-Id, Content-Length and Connection after them, as it does for
  // every answer. Cleared by the server before each attempt.
  std::string header_lines;
  // The whole body, sent from where it is; null for a 304.
  std::shared_ptr<const std::string> body;
  // The same bytes as a file, when the lane has one: sent with sendfile on plain TCP.
  std::shared_ptr<const MemoryFile> body_file;
  // The route's pattern: the label in logs and metrics, as the general path gives it.
  const std::string* route = nullptr;
};

class FastLane {
 public:
  virtual ~FastLane() = default;
  // Answers a GET in the lane's subset (lane_request.h: no body, no Range) whose target
  // needs no decoding: true with answer filled, or false (answer's fields then unspecified;
  // nothing else changed). Runs on a network thread: must not block, wait or throw.
  virtual bool TryAnswer(const PlainTarget& target, const LaneRequest& request,
                         FastAnswer& answer) const noexcept = 0;
};

// The whole response head of a lane's answer, into head (cleared first): the status line,
// the lane's lines, then what the server adds to every answer (ResponseHead's order).
void FastAnswerHead(const FastAnswer& answer, std::string_view request_id, bool keep_alive,
                    std::string& head);

}  // namespace imgd::http

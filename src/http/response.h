#pragma once
// What a handler returns; the server serialises it (string body or a streamed ByteSource).
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_source.h"
#include "core/errors.h"

namespace imgd::http {

struct Response {
  boost::beast::http::status status = boost::beast::http::status::ok;
  boost::beast::http::fields headers;
  std::string body;
  // When set, the body is bytes [stream_offset, stream_offset + stream_length) of stream,
  // read on the blocking pool in chunks.
  std::shared_ptr<ByteSource> stream;
  uint64_t stream_offset = 0;
  uint64_t stream_length = 0;
  // HEAD: send headers (with the Content-Length of the GET) but no body.
  bool head = false;

  uint64_t ContentLength() const { return stream ? stream_length : body.size(); }
};

Response Json(boost::beast::http::status status, const boost::json::value& v);
// The one place an Error becomes HTTP: its code's status and title, RFC 9457 problem+json
// (type, title, status, detail, requestId and the error's facts), Retry-After and the
// RateLimit-* fields of a spent limit.
Response Problem(const Error& e, const std::string& request_id);
boost::beast::http::status HttpStatus(ErrorCode code);
// 405 problem+json naming the methods the path allows, with its Allow field.
Response MethodNotAllowed(std::string_view method,
                          const std::vector<boost::beast::http::verb>& allowed,
                          const std::string& request_id);

// A whole HTTP/1.1 message (status line, headers, problem+json body, Connection: close)
// for what is refused before a request exists: a header too large, bytes that are not HTTP.
std::string BareProblem(int status, std::string_view title, std::string_view slug,
                        std::string_view detail);

}  // namespace imgd::http

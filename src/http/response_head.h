#pragma once
// The status line and header fields of an answer, written by hand (they go out with every
// response).
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imgd::http {

// Field values come from handlers; CR and LF are dropped so no value can start a new
// header line. Content-Length when given; "Connection: close" unless keep_alive.
std::string ResponseHead(boost::beast::http::status status,
                         const boost::beast::http::fields& fields,
                         std::optional<uint64_t> content_length, bool keep_alive);

// ResponseHead's parts, for heads written without a fields object (http/fast_lane.h).
void AppendStatusLine(std::string& out, boost::beast::http::status status);
// "name: value\r\n", the value's CR and LF dropped.
void AppendHeaderLine(std::string& out, std::string_view name, std::string_view value);
// Content-Length when given, "Connection: close" unless keep_alive, and the blank line.
void AppendHeadEnd(std::string& out, std::optional<uint64_t> content_length, bool keep_alive);

}  // namespace imgd::http

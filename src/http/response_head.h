#pragma once
// The status line and header fields of an answer, written by hand (they go out with every
// response).
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace imgd::http {

// Field values come from handlers; CR and LF are dropped so no value can start a new
// header line. Content-Length when given; "Connection: close" unless keep_alive.
std::string ResponseHead(boost::beast::http::status status,
                         const boost::beast::http::fields& fields,
                         std::optional<uint64_t> content_length, bool keep_alive);

}  // namespace imgd::http

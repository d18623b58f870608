// The warm lane's own header reading (http/lane_request.h) against Beast's on arbitrary bytes:
// whatever the lane takes, Beast must take as a whole bodiless GET with the same target,
// fields, keep-alive and header length (else the two readings could disagree on where a
// request ends). A disagreement traps.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/lane_request.h"

namespace bhttp = boost::beast::http;

namespace {

std::string_view First(const bhttp::fields& fields, std::string_view name) {
  auto it = fields.find(name);
  return it == fields.end() ? std::string_view() : std::string_view(it->value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  imgd::http::LaneRequest lane;
  if (!imgd::http::ParseLaneRequest(bytes, lane)) return 0;
  if (lane.header_size == 0 || lane.header_size > size) __builtin_trap();
  bhttp::request_parser<bhttp::empty_body> parser;
  parser.eager(false);
  parser.header_limit(1u << 20);
  boost::system::error_code ec;
  const size_t n = parser.put(boost::asio::buffer(data, lane.header_size), ec);
  if (ec || !parser.is_header_done() || !parser.is_done() || n != lane.header_size) {
    __builtin_trap();
  }
  const auto& req = parser.get();
  if (req.method() != bhttp::verb::get || req.version() != 11 ||
      std::string_view(req.target()) != lane.target ||
      First(req, "If-None-Match") != lane.if_none_match || First(req, "Accept") != lane.accept ||
      First(req, "X-Request-Id") != lane.request_id ||
      First(req, "traceparent") != lane.traceparent || req.keep_alive() != lane.keep_alive) {
    __builtin_trap();
  }
  return 0;
}

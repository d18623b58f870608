// ParseLaneRequest (http/lane_request.h): what the subset takes and declines, and, over many
// mutated requests, that whatever it takes Beast takes too, with the same meaning.
#include "http/lane_request.h"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <random>
#include <string>

using imgd::http::LaneRequest;
using imgd::http::ParseLaneRequest;
namespace bhttp = boost::beast::http;

namespace {

constexpr std::string_view kBase =
    "GET /v1/images/abc/content?w=480 HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "If-None-Match: \"abc-p1-w480-q80\"\r\n"
    "Accept: image/avif,image/webp,*/*\r\n"
    "X-Request-Id: req-1\r\n"
    "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
    "\r\n";

TEST(LaneRequest, ReadsTheFieldsTheLaneNeeds) {
  const std::string bytes = std::string(kBase) + "GET /next HTTP/1.1\r\n\r\n";
  LaneRequest r;
  ASSERT_TRUE(ParseLaneRequest(bytes, r));
  EXPECT_EQ(r.target, "/v1/images/abc/content?w=480");
  EXPECT_EQ(r.if_none_match, "\"abc-p1-w480-q80\"");
  EXPECT_EQ(r.accept, "image/avif,image/webp,*/*");
  EXPECT_EQ(r.request_id, "req-1");
  EXPECT_EQ(r.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.header_size, kBase.size());  // a pipelined request after it is left alone
}

TEST(LaneRequest, FirstOfARepeatedFieldAndCaseInsensitiveNames) {
  LaneRequest r;
  ASSERT_TRUE(
      ParseLaneRequest("GET / HTTP/1.1\r\nIF-NONE-MATCH:\t\"a\" \r\nif-none-match: \"b\"\r\n"
                       "CONNECTION: Close\r\n\r\n",
                       r));
  EXPECT_EQ(r.if_none_match, "\"a\"");
  EXPECT_FALSE(r.keep_alive);
}

TEST(LaneRequest, DeclinesWhatIsOutsideTheSubset) {
  const char* declined[] = {
      "HEAD / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "GET HTTP/1.1\r\n\r\n",
      "GET /\x80 HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\n",                         // not whole yet
      "GET / HTTP/1.1\nHost: x\r\n\r\n",                       // bare LF
      "GET / HTTP/1.1\r\nHost: x\n\r\n",                       // bare LF
      "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",                  // CR in a value
      "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n",           // obs-text
      "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",          // obs-fold
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",                    // space before the colon
      "GET / HTTP/1.1\r\n: x\r\n\r\n",                         // no name
      "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",           // a body
      "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",  // a body
      "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",        //
      "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",          //
      "GET / HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n",            // the general path's
      "GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n",         //
      "GET / HTTP/1.1\r\nConnection: close\r\nConnection: x\r\n\r\n",
  };
  for (const char* bytes : declined) {
    LaneRequest r;
    EXPECT_FALSE(ParseLaneRequest(bytes, r)) << bytes;
  }
}

// Beast's reading of the same bytes: whether it takes them as a whole bodiless GET, and what
// it makes of them (copied: the parser goes with the call).
struct BeastReading {
  bool ok = false;
  std::string target, if_none_match, accept, request_id, traceparent;
  bool keep_alive = false;
  size_t header_size = 0;
};

BeastReading ReadWithBeast(std::string_view bytes) {
  bhttp::request_parser<bhttp::empty_body> parser;
  parser.eager(false);
  boost::system::error_code ec;
  const size_t n = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  BeastReading out;
  if (ec || !parser.is_header_done() || !parser.is_done()) return out;
  const auto& req = parser.get();
  if (req.method() != bhttp::verb::get || req.version() != 11) return out;
  auto first = [&](const char* name) {
    auto it = req.find(name);
    return it == req.end() ? std::string() : std::string(it->value());
  };
  out = {true,
         std::string(req.target()),
         first("If-None-Match"),
         first("Accept"),
         first("X-Request-Id"),
         first("traceparent"),
         req.keep_alive(),
         n};
  return out;
}

TEST(LaneRequest, WhatItTakesBeastTakesAlikeOverMutatedRequests) {
  // Random byte changes, insertions and deletions of a real request (and of some with a
  // Connection field): each the lane takes must be one Beast takes, with equal meaning.
  const std::string seeds[] = {
      std::string(kBase), "GET /a?b=c HTTP/1.1\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n",
      "GET / HTTP/1.1\r\nconnection:close\r\nX-Request-Id:  r \r\n\r\n"};
  // Field and line syntax, controls, DEL, bytes over 0x7F and NUL (sizeof keeps it).
  static const char kAlphabet[] = "\r\n\t :;,\"/?=&-%\x7f\x80\xff\0aZ09";
  const std::string alphabet(kAlphabet, sizeof(kAlphabet) - 1);
  std::mt19937 rng(20261201);
  int taken = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string bytes = seeds[i % 3];
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0; --edits) {
      const size_t at = rng() % bytes.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          bytes[at] = c;
          break;
        case 1:
          bytes.insert(bytes.begin() + static_cast<long>(at), c);
          break;
        default:
          bytes.erase(at, 1);
          break;
      }
    }
    LaneRequest lane;
    if (!ParseLaneRequest(bytes, lane)) continue;
    ++taken;
    const BeastReading beast = ReadWithBeast(std::string_view(bytes).substr(0, lane.header_size));
    ASSERT_TRUE(beast.ok) << "the lane took what Beast refuses: " << bytes;
    EXPECT_EQ(lane.target, beast.target) << bytes;
    EXPECT_EQ(lane.if_none_match, beast.if_none_match) << bytes;
    EXPECT_EQ(lane.accept, beast.accept) << bytes;
    EXPECT_EQ(lane.request_id, beast.request_id) << bytes;
    EXPECT_EQ(lane.traceparent, beast.traceparent) << bytes;
    EXPECT_EQ(lane.keep_alive, beast.keep_alive) << bytes;
    EXPECT_EQ(lane.header_size, beast.header_size) << bytes;
  }
  EXPECT_GT(taken, 5000);  // the mutations leave many requests in the subset
}

}  // namespace

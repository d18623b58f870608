#include <gtest/gtest.h>

#include "core/errors.h"
#include "http/multipart.h"
#include "http/range.h"
#include "http/router.h"
#include "http/trace_context.h"

using namespace imgd;
using namespace imgd::http;

TEST(Range, ParsesSingleRanges) {
  ByteRange r;
  EXPECT_EQ(ParseRange("bytes=0-9", 100, r), RangeResult::kSatisfiable);
  EXPECT_EQ(r.offset, 0u);
  EXPECT_EQ(r.length, 10u);
  EXPECT_EQ(ParseRange("bytes=90-", 100, r), RangeResult::kSatisfiable);
  EXPECT_EQ(r.offset, 90u);
  EXPECT_EQ(r.length, 10u);
  EXPECT_EQ(ParseRange("bytes=-5", 100, r), RangeResult::kSatisfiable);
  EXPECT_EQ(r.offset, 95u);
  EXPECT_EQ(r.length, 5u);
  EXPECT_EQ(ParseRange("bytes=-500", 100, r), RangeResult::kSatisfiable);
  EXPECT_EQ(r.offset, 0u);
  EXPECT_EQ(r.length, 100u);
  EXPECT_EQ(ParseRange("bytes=50-1000", 100, r), RangeResult::kSatisfiable);
  EXPECT_EQ(r.length, 50u);
}

TEST(Range, UnsatisfiableAndIgnored) {
  ByteRange r;
  EXPECT_EQ(ParseRange("bytes=100-", 100, r), RangeResult::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 100, r), RangeResult::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-1,5-6", 100, r), RangeResult::kNone);
  EXPECT_EQ(ParseRange("bytes=5-1", 100, r), RangeResult::kNone);
  EXPECT_EQ(ParseRange("items=0-1", 100, r), RangeResult::kNone);
  EXPECT_EQ(ParseRange("bytes=a-b", 100, r), RangeResult::kNone);
  EXPECT_EQ(ParseRange("bytes=99999999999999999999-", 100, r), RangeResult::kNone);
}

TEST(Router, MatchesPatternsAndReportsAllowedMethods) {
  Router router;
  Handler h = [](RequestContext&) -> boost::asio::awaitable<Response> { co_return Response{}; };
  router.Add(boost::beast::http::verb::get, "/v1/images/{imageId}", h);
  router.Add(boost::beast::http::verb::delete_, "/v1/images/{imageId}", h);
  auto m = router.Find(boost::beast::http::verb::get, "/v1/images/abc");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params["imageId"], "abc");
  auto head = router.Find(boost::beast::http::verb::head, "/v1/images/abc");
  ASSERT_NE(head.route, nullptr);
  EXPECT_TRUE(head.head_via_get);
  auto post = router.Find(boost::beast::http::verb::post, "/v1/images/abc");
  EXPECT_EQ(post.route, nullptr);
  EXPECT_EQ(post.allowed.size(), 2u);
  EXPECT_EQ(router.Find(boost::beast::http::verb::get, "/v1/images/abc/").route, nullptr);
  EXPECT_EQ(router.Find(boost::beast::http::verb::get, "/v1/images").route, nullptr);
}

namespace {

struct Collected {
  std::vector<PartInfo> parts;
  std::vector<std::string> data;
  int ends = 0;
};

Collected ParseInPieces(const std::string& body, const std::string& boundary, size_t piece) {
  Collected c;
  MultipartParser p(boundary,
                    {[&](const PartInfo& i) {
                       c.parts.push_back(i);
                       c.data.emplace_back();
                     },
                     [&](std::span<const char> d) { c.data.back().append(d.data(), d.size()); },
                     [&] { ++c.ends; }});
  for (size_t i = 0; i < body.size(); i += piece) {
    p.Feed({body.data() + i, std::min(piece, body.size() - i)});
  }
  EXPECT_TRUE(p.done());
  return c;
}

}  // namespace

TEST(Multipart, ParsesFieldsAndFileAtEverySplit) {
  std::string file = "\xff\xd8\xff binary \r\n--not-the-boundary \r\n--XY almost";
  std::string body =
      "preamble\r\n--XYZ\r\n"
      "Content-Disposition: form-data; name=\"imageName\"\r\n\r\n"
      "Sunset\r\n--XYZ\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n" +
      file + "\r\n--XYZ--\r\nepilogue";
  for (size_t piece : {1, 2, 3, 5, 7, 16, 64, 4096}) {
    Collected c = ParseInPieces(body, "XYZ", piece);
    ASSERT_EQ(c.parts.size(), 2u) << piece;
    EXPECT_EQ(c.parts[0].name, "imageName");
    EXPECT_EQ(c.data[0], "Sunset");
    EXPECT_EQ(c.parts[1].name, "file");
    EXPECT_EQ(c.parts[1].filename, "a \"b\".jpg");
    EXPECT_EQ(c.data[1], file) << piece;
    EXPECT_EQ(c.ends, 2);
  }
}

TEST(Multipart, RejectsMalformedInput) {
  auto feed = [](const std::string& body) {
    MultipartParser p("B", {});
    p.Feed({body.data(), body.size()});
  };
  EXPECT_THROW(feed("--B\r\nNoColonHere\r\n\r\nx\r\n--B--"), Error);
  EXPECT_THROW(feed("--B\r\nContent-Disposition: attachment\r\n\r\nx\r\n--B--"), Error);
  EXPECT_THROW(feed(std::string(70000, 'x')), Error);  // no boundary at all
}

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(MultipartBoundary("Multipart/Form-Data; charset=x; boundary=\"a b\""), "a b");
  EXPECT_EQ(MultipartBoundary("multipart/mixed; boundary=abc"), std::nullopt);
  EXPECT_EQ(MultipartBoundary("multipart/form-data"), std::nullopt);
}

TEST(TraceContext, ContinuesAValidTraceparent) {
  auto t = imgd::http::ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->parent_id, "00f067aa0ba902b7");
  EXPECT_TRUE(t->sampled);
  imgd::http::TraceContext s =
      imgd::http::StartSpan("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  EXPECT_EQ(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(s.span_id.size(), 16u);
  EXPECT_NE(s.span_id, "00f067aa0ba902b7");
  EXPECT_FALSE(s.sampled);
  EXPECT_EQ(imgd::http::Traceparent(s), "00-4bf92f3577b34da6a3ce929d0e0e4736-" + s.span_id + "-00");
  // A later version with an extra field is read by its version-00 fields.
  EXPECT_TRUE(imgd::http::ParseTraceparent(
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds"));
}

TEST(TraceContext, RefusesMalformedHeadersAndStartsANewTrace) {
  for (const char* bad :
       {"", "00", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 + extra
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"}) {
    EXPECT_FALSE(imgd::http::ParseTraceparent(bad)) << bad;
  }
  imgd::http::TraceContext a = imgd::http::StartSpan("garbage");
  imgd::http::TraceContext b = imgd::http::StartSpan("");
  EXPECT_EQ(a.trace_id.size(), 32u);
  EXPECT_NE(a.trace_id, b.trace_id);
  EXPECT_TRUE(a.parent_id.empty());
  EXPECT_TRUE(imgd::http::ParseTraceparent(imgd::http::Traceparent(a)));
}

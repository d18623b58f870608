// The current trace: carried through Offload to pool threads, through the server's traced
// executor, into the S3 requests (traceparent header, seen by a capturing endpoint here),
// and the OTLP JSON the exporter sends.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <mutex>
#include <thread>

#include "blob/s3_client.h"
#include "core/offload.h"
#include "core/traced_executor.h"
#include "http/trace_context.h"
#include "obs/otlp_exporter.h"

namespace imgd {
namespace {

namespace asio = boost::asio;

TraceContext Sampled() {
  TraceContext t;
  t.trace_id = "0af7651916cd43dd8448eb211c80319c";
  t.span_id = "b7ad6b7169203331";
  t.sampled = true;
  return t;
}

TEST(Trace, ScopesNestAndOffloadCarriesTheTraceToThePool) {
  EXPECT_EQ(CurrentTrace(), nullptr);
  TraceContext t = Sampled();
  asio::thread_pool pool(1);
  asio::io_context ioc;
  std::string seen_on_pool, seen_outside = "unset";
  auto slot = std::make_shared<TraceSlot>();
  slot->trace = t;
  // Two interleaved coroutines on one thread: each sees only its own trace at every step.
  auto other_slot = std::make_shared<TraceSlot>();
  other_slot->trace.trace_id = "11111111111111111111111111111111";
  std::vector<std::string> mine, theirs;
  auto run = [&](std::vector<std::string>& out, bool offload) -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int i = 0; i < 3; ++i) {
      out.push_back(CurrentTrace() ? CurrentTrace()->trace_id : "none");
      timer.expires_after(std::chrono::milliseconds(1));
      co_await timer.async_wait(asio::use_awaitable);
      if (offload) {
        seen_on_pool = co_await Offload(
            pool, [] { return CurrentTrace() ? CurrentTrace()->trace_id : std::string("none"); });
      }
    }
    out.push_back(CurrentTrace() ? CurrentTrace()->trace_id : "none");
  };
  asio::co_spawn(TracedExecutor(ioc.get_executor(), slot), run(mine, true), asio::detached);
  asio::co_spawn(TracedExecutor(ioc.get_executor(), other_slot), run(theirs, false),
                 asio::detached);
  ioc.run();
  seen_outside = CurrentTrace() ? "some" : "none";
  pool.join();
  EXPECT_EQ(mine, std::vector<std::string>(4, t.trace_id));
  EXPECT_EQ(theirs, std::vector<std::string>(4, other_slot->trace.trace_id));
  EXPECT_EQ(seen_on_pool, t.trace_id);
  EXPECT_EQ(seen_outside, "none");
  {
    TraceScope outer(&t);
    {
      TraceScope inner(nullptr);
      EXPECT_EQ(CurrentTrace(), nullptr);
    }
    EXPECT_EQ(CurrentTrace(), &t);
  }
  EXPECT_EQ(CurrentTrace(), nullptr);
}

TEST(Trace, SamplingOfNewTracesFollowsTheRatioAndCallersTheirFlag) {
  EXPECT_FALSE(http::StartSpan("", 0).sampled);
  EXPECT_TRUE(http::StartSpan("", 1).sampled);
  int sampled = 0;
  for (int i = 0; i < 4000; ++i) sampled += http::StartSpan("", 0.25).sampled;
  EXPECT_GT(sampled, 800);
  EXPECT_LT(sampled, 1200);
  EXPECT_TRUE(
      http::StartSpan("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 0).sampled);
  EXPECT_FALSE(
      http::StartSpan("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", 1).sampled);
}

// An S3 endpoint that answers 200 to everything and keeps the traceparent headers it saw.
class CapturingEndpoint {
 public:
  CapturingEndpoint()
      : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}),
        endpoint_(acceptor_.local_endpoint()) {
    thread_ = std::thread([this] {
      for (;;) {
        asio::ip::tcp::socket s(ioc_);
        boost::system::error_code ec;
        acceptor_.accept(s, ec);
        if (ec || stop_) return;
        boost::beast::flat_buffer buf;
        for (;;) {
          boost::beast::http::request<boost::beast::http::string_body> req;
          boost::beast::http::read(s, buf, req, ec);
          if (ec) break;
          {
            std::lock_guard lock(mu_);
            seen_.emplace_back(req["traceparent"]);
          }
          static const char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
          const bool head = req.method() == boost::beast::http::verb::head;
          asio::write(s, asio::buffer(kOk, sizeof(kOk) - 1 - (head ? 2 : 0)), ec);
          if (ec) break;
        }
      }
    });
  }
  ~CapturingEndpoint() {
    stop_ = true;
    // Wake the blocking accept, which then sees stop_.
    boost::system::error_code ec;
    asio::io_context poker;
    asio::ip::tcp::socket poke(poker);
    poke.connect(endpoint_, ec);
    thread_.join();
  }
  S3Config Config() {
    S3Config c;
    c.bucket = "b";
    c.host = "127.0.0.1";
    c.port = std::to_string(endpoint_.port());
    c.creds = {"access", "secret", "us-east-1"};
    return c;
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  asio::io_context ioc_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint endpoint_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> seen_;
  std::thread thread_;
};

TEST(Trace, S3RequestsCarryTheTraceAsAChildSpan) {
  CapturingEndpoint endpoint;
  S3Client client(endpoint.Config());
  S3Client::Request head;
  head.method = "HEAD";
  head.key = "outside";
  client.Send(head);
  TraceContext t = Sampled();
  {
    TraceScope scope(&t);
    head.key = "inside";
    client.Send(head);
    client.Stream("inside", 0, std::nullopt, [](const char*, size_t) { return true; });
  }
  auto seen = endpoint.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], "");  // no request, no trace
  for (size_t i = 1; i < 3; ++i) {
    auto parsed = http::ParseTraceparent(seen[i]);
    ASSERT_TRUE(parsed) << seen[i];
    EXPECT_EQ(parsed->trace_id, t.trace_id);
    EXPECT_NE(parsed->parent_id, t.span_id);  // the store call's own span
    EXPECT_TRUE(parsed->sampled);
  }
}

TEST(Trace, OtlpJsonHasTheCollectorsShape) {
  Span s;
  s.trace_id = "0af7651916cd43dd8448eb211c80319c";
  s.span_id = "b7ad6b7169203331";
  s.name = "GET /v1/images/{imageId}/content";
  s.start_unix_ns = 1700000000000000000;
  s.end_unix_ns = 1700000000000001000;
  s.error = true;
  s.text_attributes = {{"http.route", "/x"}};
  s.int_attributes = {{"http.response.status_code", 503}};
  auto doc = boost::json::parse(OtlpJson({s}, "imgd-test")).as_object();
  auto& rs = doc["resourceSpans"].as_array()[0].as_object();
  EXPECT_EQ(rs["resource"].at("attributes").at(0).at("value").at("stringValue"), "imgd-test");
  auto& span = rs["scopeSpans"].as_array()[0].at("spans").at(0).as_object();
  EXPECT_EQ(span["traceId"].as_string(), s.trace_id);
  EXPECT_EQ(span["spanId"].as_string(), s.span_id);
  EXPECT_FALSE(span.contains("parentSpanId"));
  EXPECT_EQ(span["kind"], 2);
  EXPECT_EQ(span["startTimeUnixNano"], "1700000000000000000");
  EXPECT_EQ(span["status"].at("code"), 2);
  EXPECT_EQ(span["attributes"].at(1).at("value").at("intValue"), "503");
}

}  // namespace
}  // namespace imgd

// RequestReader's drained reads (http/drained_read.h) over a real loopback TCP connection: each
// test would hang (and fail at its bound) if a short read wrongly stopped the reactor from reading
// data that is there, or lost the edge of data that came later.
#include "http/drained_read.h"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

class DrainedRead : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_.connect(acceptor.local_endpoint());
    acceptor.accept(server_);
  }

  struct Result {
    boost::system::error_code ec;
    std::string bytes;
  };

  // Starts one read of at most `size` bytes; Finish runs the context until it completes.
  void Start(size_t size) {
    result_.reset();
    reader_.AsyncReadSome(asio::buffer(buffer_.data(), size),
                          [this](boost::system::error_code ec, size_t n) {
                            result_ = Result{ec, std::string(buffer_.data(), n)};
                          });
  }
  Result Finish() {
    // A bound, not a synchronisation: a correct read completes at once.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!result_ && std::chrono::steady_clock::now() < until) {
      ioc_.run_for(std::chrono::milliseconds(100));
      ioc_.restart();
    }
    EXPECT_TRUE(result_.has_value()) << "the read never completed";
    return result_.value_or(Result{});
  }
  Result Read(size_t size) {
    Start(size);
    return Finish();
  }
  void Send(const std::string& s) { asio::write(client_, asio::buffer(s)); }
  // Lets the reactor see the edges of what was sent while no read waits for them.
  void Settle() {
    auto guard = asio::make_work_guard(ioc_);
    ioc_.poll();
    ioc_.restart();
  }

  asio::io_context ioc_;
  tcp::socket client_{ioc_};
  tcp::socket server_{ioc_};
  imgd::http::RequestReader<tcp::socket> reader_{server_};
  std::array<char, 64> buffer_{};
  std::optional<Result> result_;
};

TEST_F(DrainedRead, ShortReadThenDataForAQueuedRead) {
  Send("abc");
  EXPECT_EQ(Read(16).bytes, "abc");
  Start(16);  // queued: the socket was left empty
  Send("defg");
  EXPECT_EQ(Finish().bytes, "defg");
}

TEST_F(DrainedRead, DataThatArrivedWithNoReadQueuedIsRead) {
  Send("abc");
  EXPECT_EQ(Read(16).bytes, "abc");
  Send("xyz");
  Settle();
  EXPECT_EQ(Read(16).bytes, "xyz");
}

TEST_F(DrainedRead, AFullReadLeavesTheRestReadable) {
  // 16 of 24 bytes fill the buffer: no proof the socket is empty, and no new edge will come
  // for the 8 left, so the next read must still try at once.
  Send("0123456789abcdefGHIJKLMN");
  Settle();  // the one edge is spent before either read
  EXPECT_EQ(Read(16).bytes, "0123456789abcdef");
  EXPECT_EQ(Read(16).bytes, "GHIJKLMN");
}

TEST_F(DrainedRead, EndOfFileAndCancellation) {
  Start(16);
  server_.cancel();
  EXPECT_EQ(Finish().ec, asio::error::operation_aborted);
  Send("last");
  EXPECT_EQ(Read(16).bytes, "last");
  client_.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(Read(16).ec, asio::error::eof);
}

}  // namespace

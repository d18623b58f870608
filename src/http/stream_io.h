#pragma once
// Reading requests and writing answers on one connection, plain TCP or TLS: the
// connection's deadline, the request body as a ChunkSource straight off the socket, and the
// gather write of an answer's head and body. Header-only (templates over the stream type).
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/byte_source.h"
#include "core/chunk_source.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/memory_file.h"
#include "core/offload.h"
#include "http/response.h"
#include "obs/log.h"

namespace imgd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

inline constexpr size_t kBodyChunk = 256 * 1024;
inline constexpr size_t kFirstRead = 16 * 1024;

// A connection's timeout: when the deadline passes, the socket is closed and whatever read
// or write is pending ends with an error (operation_aborted). One timer per connection,
// moved only when the deadline would move by more than a little: Beast's per-operation
// timeouts add and remove a timer around every read and write, and each time one becomes
// the earliest that is a timerfd_settime syscall (one per request on a kept-alive
// connection, a tenth of a cached read's CPU). The deadline kept is never short of the one
// asked for by more than timeout/8 (at most 1 s), nor beyond it by more than timeout/4 (at
// most 16 s).
class StreamDeadline {
 public:
  explicit StreamDeadline(beast::tcp_stream& stream)
      : state_(std::make_shared<State>(stream)), timer_(stream.get_executor()) {}
  ~StreamDeadline() { state_->alive = false; }
  StreamDeadline(const StreamDeadline&) = delete;
  StreamDeadline& operator=(const StreamDeadline&) = delete;

  void Arm(std::chrono::steady_clock::duration timeout) {
    const auto want = CoarseSteadyNow() + timeout;  // a tick early at most
    const auto early =
        std::min<std::chrono::steady_clock::duration>(timeout / 8, std::chrono::seconds(1));
    const auto late =
        std::min<std::chrono::steady_clock::duration>(timeout / 4, std::chrono::seconds(16));
    if (armed_ && deadline_ >= want - early && deadline_ <= want + late) return;
    deadline_ = want;
    armed_ = true;
    timer_.expires_at(want);  // cancels the wait for the old deadline
    timer_.async_wait([state = state_](boost::system::error_code ec) {
      if (ec || !state->alive) return;  // moved, or the connection is gone
      boost::system::error_code ignored;
      state->stream.socket().close(ignored);
    });
  }

 private:
  struct State {
    explicit State(beast::tcp_stream& s) : stream(s) {}
    beast::tcp_stream& stream;
    bool alive = true;  // false once the connection (and its stream) is destroyed
  };
  std::shared_ptr<State> state_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
  bool armed_ = false;
};

// Whether buf already holds a whole request header (its blank line).
inline bool HeaderComplete(const beast::flat_buffer& buf) {
  const auto data = buf.data();
  const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
  // Usually the buffer is one whole request without a body: it ends with the blank line.
  return bytes.ends_with("\r\n\r\n") || bytes.find("\r\n\r\n") != std::string_view::npos;
}

// Parses a header that is already in buf without an I/O operation: Beast's async_read_header
// would post its completion through the executor even then, one more scheduler round per
// request. Returns the bytes consumed; ec as async_read_header's, or http::error::need_more
// when buf holds no whole header (the caller then reads as usual).
template <class Parser>
size_t ParseBufferedHeader(Parser& parser, beast::flat_buffer& buf, boost::system::error_code& ec) {
  size_t consumed = 0;
  if (!HeaderComplete(buf)) {
    ec = beast::http::error::need_more;
    return 0;
  }
  while (!parser.is_header_done()) {
    const size_t n = parser.put(buf.data(), ec);
    buf.consume(n);
    consumed += n;
    if (ec) break;
    if (n == 0) {
      ec = beast::http::error::need_more;
      break;
    }
  }
  return consumed;
}

struct ClientGone : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The request body as a ChunkSource, read straight off the connection (plain or TLS).
template <class Stream>
class SocketBody final : public ChunkSource {
 public:
  SocketBody(Stream& stream, StreamDeadline& deadline, beast::flat_buffer& buf,
             bhttp::request_parser<bhttp::buffer_body>& parser, std::chrono::seconds timeout,
             bool expect_continue)
      : stream_(stream),
        deadline_(deadline),
        buf_(buf),
        parser_(parser),
        timeout_(timeout),
        expect_continue_(expect_continue) {
    // A body of a declared length is read straight off the socket into the chunk, up to a
    // chunk per read: through Beast's parser every 64 KB would be one more read, one more
    // wait in the network thread's queue (an upload's largest delay when it is busy) and one
    // more copy of the bytes. Chunked bodies still go through the parser.
    if (!parser_.chunked() && parser_.content_length() && !parser_.is_done()) {
      direct_remaining_ = *parser_.content_length();
    }
  }

  asio::awaitable<std::span<const char>> Next() override {
    if (expect_continue_) {
      // The client waits for this before sending the body (curl does for large bodies).
      expect_continue_ = false;
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      deadline_.Arm(timeout_);
      auto [ec, n] = co_await asio::async_write(
          stream_, asio::buffer(kContinue, sizeof(kContinue) - 1), kTuple);
      if (ec) throw ClientGone(ec.message());
    }
    if (!gone_.empty()) throw ClientGone(gone_);
    // Allocated on first use (most requests have no body), not value-initialised.
    if (!complete() && !chunk_) chunk_.reset(new char[kBodyChunk]);
    if (direct_remaining_) co_return co_await NextDirect();
    while (!parser_.is_done()) {
      parser_.get().body().data = chunk_.get();
      parser_.get().body().size = kBodyChunk;
      deadline_.Arm(timeout_);
      auto [ec, n] = co_await bhttp::async_read(stream_, buf_, parser_, kTuple);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec == bhttp::error::body_limit) {
        throw PayloadTooLarge("request body exceeds the upload limit");
      }
      size_t got = kBodyChunk - parser_.get().body().size;
      received_ += got;
      if (ec) {
        // Hand over what arrived before the connection failed (a resumable upload keeps
        // it); the failure is reported by the next call.
        if (got == 0) throw ClientGone(ec.message());
        gone_ = ec.message();
      }
      if (got > 0) co_return std::span<const char>(chunk_.get(), got);
    }
    co_return std::span<const char>();
  }

  bool complete() const { return direct_remaining_ ? *direct_remaining_ == 0 : parser_.is_done(); }
  uint64_t received() const { return received_; }

 private:
  // The next part of a declared-length body: what the header's read already holds, then
  // whatever the socket has (at most the rest of the body: the next request's bytes stay
  // unread).
  asio::awaitable<std::span<const char>> NextDirect() {
    uint64_t& left = *direct_remaining_;
    if (left == 0) co_return std::span<const char>();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, kBodyChunk));
    size_t got = 0;
    if (buf_.size() > 0) {
      got = std::min(want, buf_.size());
      std::memcpy(chunk_.get(), buf_.data().data(), got);
      buf_.consume(got);
    } else {
      deadline_.Arm(timeout_);
      auto [ec, n] = co_await stream_.async_read_some(asio::buffer(chunk_.get(), want), kTuple);
      got = n;
      if (ec) {
        if (got == 0) throw ClientGone(ec.message());
        gone_ = ec.message();  // reported by the next call, after these bytes
      }
    }
    left -= got;
    received_ += got;
    co_return std::span<const char>(chunk_.get(), got);
  }

  Stream& stream_;
  StreamDeadline& deadline_;
  beast::flat_buffer& buf_;
  bhttp::request_parser<bhttp::buffer_body>& parser_;
  std::chrono::seconds timeout_;
  bool expect_continue_;
  std::unique_ptr<char[]> chunk_;
  uint64_t received_ = 0;
  std::optional<uint64_t> direct_remaining_;  // set: a declared-length body, not yet read
  std::string gone_;                          // set once the connection failed
};

// Writes an answer's head and then (part of) its body, in one gather write on plain TCP.
// Over TLS, Beast's ssl_stream (a flat_stream) writes nothing when a gather's remaining first
// buffer is empty, and asio's write loop then stops as if done: there a small answer is
// copied into one record and a large one goes out as two single-buffer writes.
template <class Stream>
asio::awaitable<boost::system::error_code> WriteParts(Stream& stream, std::string_view head,
                                                      std::string_view body) {
  boost::system::error_code ec;
  if constexpr (std::is_same_v<Stream, asio::ip::tcp::socket>) {
    std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(body)};
    std::tie(ec, std::ignore) = co_await asio::async_write(stream, out, kTuple);
  } else if (head.size() + body.size() <= 16 * 1024) {
    std::string joined;
    joined.reserve(head.size() + body.size());
    joined.append(head).append(body);
    std::tie(ec, std::ignore) = co_await asio::async_write(stream, asio::buffer(joined), kTuple);
  } else {
    for (std::string_view part : {head, body}) {
      if (ec || part.empty()) continue;
      std::tie(ec, std::ignore) = co_await asio::async_write(stream, asio::buffer(part), kTuple);
    }
  }
  co_return ec;
}

// The answer to a request whose header could not be read: 431 over the limit, 400 when it
// is not HTTP/1.1, nothing ("") when the client left or timed out.
inline std::string HeaderFailureAnswer(const boost::system::error_code& ec, size_t header_limit) {
  namespace bhttp = boost::beast::http;
  if (ec == bhttp::error::header_limit) {
    return BareProblem(431, "Request Header Fields Too Large", "request-header-too-large",
                       "the request's header is over " + std::to_string(header_limit) + " bytes");
  }
  if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
      ec == asio::error::operation_aborted || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::bad_descriptor) {
    return "";
  }
  return BareProblem(400, "Bad Request", "bad-request", "the request is not valid HTTP/1.1");
}

// Writes head, then length bytes of source from offset, read a chunk at a time on the
// blocking pool (a store's reader may block). Returns the write's error (broken_pipe when
// the source failed or shrank: the answer cannot be completed) and the body bytes sent.
template <class Stream>
asio::awaitable<std::pair<boost::system::error_code, uint64_t>> WriteStreamed(
    Stream& stream, StreamDeadline& deadline, std::chrono::seconds io_timeout,
    asio::thread_pool& blocking, std::string_view head, ByteSource& source, uint64_t offset,
    uint64_t length, const std::string& request_id) {
  // Not value-initialised: every byte sent is first read into it.
  std::unique_ptr<char[]> chunk(new char[kBodyChunk]);
  boost::system::error_code wec;
  uint64_t sent = 0;
  bool head_sent = false;
  while (!wec && length > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(length, kBodyChunk));
    size_t got = 0;
    try {
      got = co_await Offload(
          blocking, [&, offset, want] { return source.ReadAt(offset, chunk.get(), want); });
    } catch (const std::exception& e) {
      LogJson("error", "read failed mid-response",
              {{"requestId", request_id}, {"error", e.what()}});
    }
    if (got == 0) {
      wec = asio::error::broken_pipe;
      break;
    }
    offset += got;
    length -= got;
    deadline.Arm(io_timeout);
    wec = co_await WriteParts(stream, head_sent ? std::string_view() : head,
                              std::string_view(chunk.get(), got));
    head_sent = true;
    sent += got;
  }
  if (!wec && !head_sent) wec = co_await WriteParts(stream, head, {});  // an empty stream
  co_return std::pair{wec, sent};
}

// Writes head, then the whole of file with sendfile(2): the kernel sends the file's pages
// instead of copying the bytes out of user memory (plain TCP only; TLS must encrypt in user
// space). The head goes with MSG_MORE so it leaves with the file's first bytes. Needs
// SIGPIPE ignored (sendfile has no MSG_NOSIGNAL): the serve command does.
inline asio::awaitable<boost::system::error_code> WriteHeadAndFile(asio::ip::tcp::socket& socket,
                                                                   std::string_view head,
                                                                   const MemoryFile& file) {
  boost::system::error_code ec;
  if (!socket.native_non_blocking()) socket.native_non_blocking(true, ec);
  if (ec) co_return ec;
  const int fd = socket.native_handle();
  off_t offset = 0;
  const auto size = static_cast<off_t>(file.size());
  while (!head.empty() || offset < size) {
    const ssize_t n = !head.empty()
                          ? ::send(fd, head.data(), head.size(), MSG_MORE | MSG_NOSIGNAL)
                          : ::sendfile(fd, file.fd(), &offset, static_cast<size_t>(size - offset));
    if (n > 0) {
      if (!head.empty()) head.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      std::tie(ec) = co_await socket.async_wait(asio::ip::tcp::socket::wait_write, kTuple);
      if (ec) co_return ec;
      continue;
    }
    // 0 from sendfile: the file ended early (it cannot: it is sealed); treat as a failure.
    co_return n < 0 ? boost::system::error_code(errno, boost::system::system_category())
                    : boost::system::error_code(asio::error::broken_pipe);
  }
  co_return ec;
}

}  // namespace imgd::http

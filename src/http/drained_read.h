#pragma once
// RequestReader: a connection's reads of its next request; for a plain TCP socket,
// socket.async_read_some minus the read that finds nothing.
//
// Asio's epoll reactor (edge-triggered) tries every read at once ("speculatively") until a
// read returns end of file, so on a keep-alive connection the read for the next request runs
// before the client has sent it: a recvfrom that fails with EAGAIN, then epoll, then the real
// recvfrom. That is a third of a warm 304's syscalls. A TCP read that returns fewer bytes than
// it asked for has emptied the socket (epoll(7) says so, and nginx relies on it), and any
// later data raises a new edge. This read reports such a read to the reactor as "exhausted",
// the status Asio itself gives end of file, so the next read waits for that edge instead.
//
// It reaches into Asio's reactor internals, so it is built only for the Boost whose internals
// it was written against (Debian 12's 1.81) on the epoll reactor; anywhere else, and for a
// read with a per-operation cancellation slot, it is plain async_read_some.
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>
#include <type_traits>
#include <utility>

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define IMGD_DRAINED_READ 1
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#endif

namespace imgd::http {

#ifdef IMGD_DRAINED_READ
namespace drained_read_detail {

namespace asio = boost::asio;
namespace ad = boost::asio::detail;
using Socket = asio::ip::tcp::socket;

// The socket's reactor registration is a protected member of basic_socket.
struct SocketAccess : Socket {
  static auto& Impl(Socket& s) { return (s.*(&SocketAccess::impl_)).get_implementation(); }
};

// Asio's reactive_socket_recv_op for one buffer, but "exhausted" after a short read too.
template <class Handler, class IoExecutor>
class RecvOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(RecvOp);

  RecvOp(int fd, asio::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex)
      : ad::reactor_op(boost::system::error_code(), &RecvOp::Perform, &RecvOp::Complete),
        fd_(fd),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status Perform(ad::reactor_op* base) {
    auto* op = static_cast<RecvOp*>(base);
    if (!ad::socket_ops::non_blocking_recv1(op->fd_, op->buffer_.data(), op->buffer_.size(), 0,
                                            /*is_stream=*/true, op->ec_, op->bytes_transferred_)) {
      return not_done;  // would block: wait for the edge
    }
    // End of file (as Asio) or a short read (the socket is empty): no read until the next edge.
    const bool short_read = !op->ec_ && op->bytes_transferred_ < op->buffer_.size();
    return op->bytes_transferred_ == 0 || short_read ? done_and_exhausted : done;
  }

  static void Complete(void* owner, ad::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* op = static_cast<RecvOp*>(base);
    ptr p = {ad::addressof(op->handler_), op, op};
    ad::handler_work<Handler, IoExecutor> work(std::move(op->work_));
    // The handler moves out before the op's memory is freed (it may own that memory).
    ad::binder2<Handler, boost::system::error_code, std::size_t> bound(op->handler_, op->ec_,
                                                                       op->bytes_transferred_);
    p.h = ad::addressof(bound.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block b(ad::fenced_block::half);
      work.complete(bound, bound.handler_);
    }
  }

 private:
  int fd_;
  asio::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

struct Initiate {
  ad::reactor* reactor;  // the socket's: looked up once (use_service takes a lock)

  template <class Handler>
  void operator()(Handler&& handler, Socket* socket, asio::mutable_buffer buffer) const {
    using H = std::decay_t<Handler>;
    if (buffer.size() == 0 || asio::get_associated_cancellation_slot(handler).is_connected()) {
      socket->async_read_some(buffer, std::forward<Handler>(handler));
      return;
    }
    auto& impl = SocketAccess::Impl(*socket);
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    using Op = RecvOp<H, Socket::executor_type>;
    typename Op::ptr p = {ad::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(impl.socket_, buffer, handler, socket->get_executor());
    if ((impl.state_ & ad::socket_ops::non_blocking) ||
        ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_)) {
      reactor->start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                        is_continuation,
                        /*allow_speculative=*/true);
    } else {
      reactor->post_immediate_completion(p.p, is_continuation);
    }
    p.v = p.p = nullptr;
  }
};

}  // namespace drained_read_detail
#endif

// A connection's reads of its next request: async_read_some for any stream (TLS reads whole
// records anyway); drained reads for a plain TCP socket.
template <class Stream>
class RequestReader {
 public:
  explicit RequestReader(Stream& stream) : stream_(stream) {}
  template <class Token>
  auto AsyncReadSome(boost::asio::mutable_buffer buffer, Token&& token) {
    return stream_.async_read_some(buffer, std::forward<Token>(token));
  }

 private:
  Stream& stream_;
};

#ifdef IMGD_DRAINED_READ
template <>
class RequestReader<boost::asio::ip::tcp::socket> {
 public:
  explicit RequestReader(boost::asio::ip::tcp::socket& socket)
      : socket_(socket),
        reactor_(&boost::asio::use_service<boost::asio::detail::reactor>(
            boost::asio::query(socket.get_executor(), boost::asio::execution::context))) {}
  // As socket.async_read_some(buffer, token).
  template <class Token>
  auto AsyncReadSome(boost::asio::mutable_buffer buffer, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        drained_read_detail::Initiate{reactor_}, token, &socket_, buffer);
  }

 private:
  boost::asio::ip::tcp::socket& socket_;
  boost::asio::detail::reactor* reactor_;
};
#endif

}  // namespace imgd::http

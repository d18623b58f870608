// The floor under imgd's warm path: the least a keep-alive request can cost with the same
// Asio coroutines, Beast header parser and trace-carrying executor imgd uses, answering a
// fixed 304. Build beside a copy of src/core/traced_executor.h whose core/trace.h include
// is replaced by trace_stub.h (the thread-local current trace, nothing else).
//   g++ -std=c++20 -O2 -I. [-DTRACED] [-DBEAST] -o floor floor_server.cpp -lpthread
//   python3 measure.py ./floor PORT     (callgrind: instructions per request, 2,000 requests)
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstring>

#include "traced_executor.h"
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
static const char kResp[] =
    "HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nCache-Control: public, max-age=31536000, "
    "immutable\r\nX-Request-Id: 01a22ec7-5ba5-70e0-bb24-160c1ab4f0b6\r\n\r\n";
#ifndef BEAST
asio::awaitable<void> session(tcp::socket& s) {
  char buf[16384];
  size_t have = 0;
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf + have, sizeof buf - have), kTuple);
    if (ec) co_return;
    have += n;
    for (;;) {
      void* end = memmem(buf, have, "\r\n\r\n", 4);
      if (!end) break;
      size_t used = static_cast<char*>(end) - buf + 4;
      auto [wec, wn] = co_await asio::async_write(s, asio::buffer(kResp, sizeof kResp - 1), kTuple);
      if (wec) co_return;
      memmove(buf, buf + used, have - used);
      have -= used;
    }
  }
}
#else
asio::awaitable<void> session(tcp::socket& s) {
  boost::beast::flat_buffer buf;
  for (;;) {
    bhttp::request_parser<bhttp::empty_body> p;
    auto [ec, n] = co_await bhttp::async_read_header(s, buf, p, kTuple);
    if (ec) co_return;
    auto [wec, wn] = co_await asio::async_write(s, asio::buffer(kResp, sizeof kResp - 1), kTuple);
    if (wec) co_return;
  }
}
#endif
asio::awaitable<void> owner(std::shared_ptr<tcp::socket> s) { co_await session(*s); }
asio::awaitable<void> acceptor(tcp::acceptor& a) {
  for (;;) {
    auto [ec, s] = co_await a.async_accept(kTuple);
    if (ec) co_return;
    s.set_option(tcp::no_delay(true));
    auto sp = std::make_shared<tcp::socket>(std::move(s));
#ifdef TRACED
    imgd::TracedExecutor ex(sp->get_executor(), std::make_shared<imgd::TraceSlot>());
    asio::co_spawn(ex, owner(sp), asio::detached);
#else
    asio::co_spawn(a.get_executor(), owner(sp), asio::detached);
#endif
  }
}
int main(int argc, char** argv) {
  asio::io_context ioc(1);
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), atoi(argv[1])));
  asio::co_spawn(ioc, acceptor(a), asio::detached);
  ioc.run();
}

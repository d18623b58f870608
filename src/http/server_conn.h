#pragma once
// Server::Conn: a live connection's state, shared by the server's source files.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <string>

#include "core/traced_executor.h"
#include "http/load_shedder.h"
#include "http/server.h"
#include "http/stream_io.h"

namespace imgd::http {

struct Server::Conn {
  // Plain HTTP when tls_context is null; otherwise the socket goes under a TLS stream.
  Conn(boost::asio::ip::tcp::socket s, boost::asio::ssl::context* tls_context)
      : plain(tls_context ? boost::asio::ip::tcp::socket(s.get_executor()) : std::move(s)),
        tls(tls_context ? std::make_unique<boost::beast::ssl_stream<boost::beast::tcp_stream>>(
                              std::move(s), *tls_context)
                        : nullptr),
        deadline(transport()) {}
  // The TCP layer: timeouts, shutdown and close act here, TLS or not.
  boost::beast::tcp_stream& transport() { return tls ? tls->next_layer() : plain; }
  boost::beast::tcp_stream plain;
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls;
  StreamDeadline deadline;
  std::string client_ip;
  std::atomic<bool> idle{true};
  LoadShedder::Probe* probe = nullptr;  // its network thread's (overload shedding)
  // The request being served; current on every step of the session (TracedExecutor).
  std::shared_ptr<TraceSlot> trace_slot = std::make_shared<TraceSlot>();
};

}  // namespace imgd::http

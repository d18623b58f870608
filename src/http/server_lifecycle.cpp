// Server's life outside a session: listening, the network threads, draining and stopping,
// and the two ways a connection ends without a request (refused, lingering close).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "http/server.h"
#include "http/server_conn.h"
#include "http/tls_context.h"
#include "obs/log.h"

namespace imgd::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Server::Server(ServerOptions opts, const Router& router, Metrics& metrics,
               asio::thread_pool& blocking_pool)
    : opts_(std::move(opts)),
      router_(router),
      metrics_(metrics),
      blocking_(blocking_pool),
      shedder_(
          std::make_unique<LoadShedder>(opts_.shed_queue_delay, metrics_, opts_.watched_pools)),
      acceptor_(ioc_) {
  if (!opts_.tls_cert.empty() || !opts_.tls_key.empty()) {
    tls_ = MakeServerTlsContext(opts_.tls_cert, opts_.tls_key);
  }
  metrics_.AddCallback("imgd_http_connections_active",
                       [this] { return static_cast<double>(active_.load()); });
  metrics_.AddCallback("imgd_http_requests_in_flight",
                       [this] { return static_cast<double>(in_flight_.load()); });
}

Server::~Server() = default;

tcp::endpoint Server::Listen() {
  tcp::endpoint ep(asio::ip::make_address(opts_.host), opts_.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint();
}

void Server::Run(int threads) {
  asio::signal_set signals(ioc_, SIGTERM, SIGINT);
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    LogJson("info", "signal received, draining", {{"signal", sig}});
    BeginDrain();
  });
  for (int i = 1; i < threads; ++i) extra_.push_back(std::make_unique<asio::io_context>(1));
  probes_.push_back(shedder_->Watch(ioc_));
  for (auto& ctx : extra_) probes_.push_back(shedder_->Watch(*ctx));
  asio::co_spawn(ioc_, Accept(), asio::detached);
  std::vector<std::thread> pool;
  for (auto& ctx : extra_) {
    pool.emplace_back([&ctx] {
      auto work = asio::make_work_guard(*ctx);  // idle until StopAll
      ctx->run();
    });
  }
  ioc_.run();
  StopAll();
  for (auto& t : pool) t.join();
}

void Server::StopAll() {
  shedder_->Stop();
  ioc_.stop();
  for (auto& ctx : extra_) ctx->stop();
}

void Server::BeginDrain() {
  if (draining_.exchange(true)) return;
  boost::system::error_code ec;
  acceptor_.close(ec);
  {
    // Idle keep-alive connections have nothing in flight: close them now. Busy ones
    // finish their current request and then close.
    std::lock_guard lock(conns_mu_);
    for (const auto& c : conns_) {
      if (!c->idle.load()) continue;
      asio::post(c->transport().get_executor(), [c] {
        boost::system::error_code ignored;
        c->transport().socket().shutdown(tcp::socket::shutdown_both, ignored);
        c->transport().socket().close(ignored);
      });
    }
  }
  auto timer = std::make_shared<asio::steady_timer>(ioc_, opts_.drain_timeout);
  timer->async_wait([this, timer](const boost::system::error_code& ec) {
    if (ec) return;
    LogJson("warn", "drain timeout: stopping with requests in flight");
    StopAll();
  });
  MaybeStop();
}

void Server::MaybeStop() {
  if (draining_.load() && active_.load() == 0) {
    LogJson("info", "drained, exiting");
    StopAll();
  }
}
// The client may still be sending a body we refused. Closing now would reset the connection
// and could destroy our answer before the client reads it, so stop sending, then read and
// discard for a bounded time and amount (lingering close). (Over TLS the discarded bytes are
// simply the encrypted records.)
asio::awaitable<void> Server::Linger(std::shared_ptr<Conn> conn) {
  boost::system::error_code ec;
  conn->transport().socket().shutdown(tcp::socket::shutdown_send, ec);
  std::vector<char> sink(64 * 1024);
  uint64_t discarded = 0;
  conn->transport().expires_after(std::chrono::seconds(5));
  while (discarded < (256ull << 20)) {
    auto [dec, dn] = co_await conn->transport().async_read_some(asio::buffer(sink), kTuple);
    if (dec) break;
    discarded += dn;
  }
}

// Too many connections (in all, or from this address): a short 503, then close. Over TLS
// there is no cheap way to answer (a handshake is the expensive part): just close.
asio::awaitable<void> Server::Refuse(std::shared_ptr<Conn> conn) {
  static const char k503[] =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
      "Content-Length: 0\r\n\r\n";
  if (!conn->tls) {
    conn->plain.expires_after(std::chrono::seconds(5));
    co_await asio::async_write(conn->plain, asio::buffer(k503, sizeof(k503) - 1), kTuple);
  }
  boost::system::error_code ec;
  conn->transport().socket().shutdown(tcp::socket::shutdown_send, ec);
  conn->transport().socket().close(ec);
}

}  // namespace imgd::http

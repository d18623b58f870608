#pragma once
// The HTTP/1.1 server: Boost.Beast over Asio with C++20 coroutines, keep-alive, one
// coroutine per connection. Each network thread runs its own io_context and owns the
// connections handed to it (round robin at accept), so a request's steps never wake
// another thread. Request bodies are streamed to handlers;
// response bodies from a ByteSource are streamed from the blocking pool. Every response
// carries X-Request-Id; every request produces one JSON access-log line and metrics.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "http/load_shedder.h"
#include "http/router.h"
#include "obs/metrics.h"

namespace imgd::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  uint64_t max_body_bytes = 1ull << 30;  // larger declared/received bodies get 413
  size_t header_limit = 16 * 1024;
  std::chrono::seconds idle_timeout{75};   // keep-alive wait for the next request
  std::chrono::seconds io_timeout{60};     // per read/write of a header or body chunk
  std::chrono::seconds drain_timeout{30};  // SIGTERM: wait this long for in-flight work
  // A request's header must arrive within this time of its first byte (slowloris); the
  // wait for that first byte on a kept-alive connection is idle_timeout.
  std::chrono::seconds header_timeout{10};
  // Open connections beyond these get a 503 and are closed at once.
  size_t max_connections = 10000;
  size_t max_connections_per_ip = 256;
  // Called for every request before it is routed, with its method, path and the client's
  // address; throws Error to refuse it (a per-address rate limit). Empty: all admitted.
  std::function<void(boost::beast::http::verb method, std::string_view path,
                     const std::string& client_ip)>
      admit;
  // New traces (requests without a traceparent) sampled for export, 0..1; a caller's
  // sampled flag is followed as it is.
  double trace_sample_ratio = 0;
  // Overload shedding (load_shedder.h): the queue delay a network thread may have before
  // it refuses new requests with a 503; 0 turns shedding off.
  std::chrono::milliseconds shed_queue_delay{0};
  // The worker pools whose queue delay also sheds requests that write (uploads).
  std::vector<boost::asio::thread_pool*> watched_pools;
  // Answer warm reads through the router's fast lane (fast_lane.h) when it has one.
  bool fast_lane = true;
  // PEM files; both set = HTTPS only (TLS 1.2+), both empty = plain HTTP.
  std::string tls_cert;
  std::string tls_key;
};

class Server {
 public:
  // Throws std::exception when the TLS files cannot be loaded.
  Server(ServerOptions opts, const Router& router, Metrics& metrics,
         boost::asio::thread_pool& blocking_pool);
  ~Server();

  // Binds and listens; returns the bound endpoint (port 0 picks a free one).
  boost::asio::ip::tcp::endpoint Listen();
  // Serves on `threads` threads until SIGTERM/SIGINT has drained in-flight requests.
  void Run(int threads);

  struct Conn;  // a live connection, registered for draining

 private:
  boost::asio::awaitable<void> Accept();
  // Stream: the plain socket itself (its deadline is the connection's StreamDeadline, so
  // Beast's per-operation timer layer is not needed), or the TLS stream.
  template <class Stream>
  boost::asio::awaitable<void> Session(std::shared_ptr<Conn> conn, Stream& stream);
  boost::asio::awaitable<void> Secure(std::shared_ptr<Conn> conn);
  using HeaderParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;
  // Beast's reading of a request header from buf, reading more within header_timeout when
  // needed; an error (a problem+json already answered for it) means the connection ends.
  template <class Stream>
  boost::asio::awaitable<boost::system::error_code> ReadHeader(Conn& conn, Stream& stream,
                                                               boost::beast::flat_buffer& buf,
                                                               HeaderParser& parser);
  // After a last answer that closes the connection: TLS's close_notify (plain: nothing).
  template <class Stream>
  boost::asio::awaitable<void> CloseNotify(const std::shared_ptr<Conn>& conn, Stream& stream);
  boost::asio::awaitable<void> Refuse(std::shared_ptr<Conn> conn);
  // Lingering close after an answer that left a request body unread.
  boost::asio::awaitable<void> Linger(std::shared_ptr<Conn> conn);
  void BeginDrain();
  void MaybeStop();
  void StopAll();

  ServerOptions opts_;
  const Router& router_;
  Metrics& metrics_;
  boost::asio::thread_pool& blocking_;
  // The other network threads' contexts. Declared before ioc_ so they outlive it: an accept
  // still pending on ioc_ at shutdown holds a socket of one of them.
  std::vector<std::unique_ptr<boost::asio::io_context>> extra_;
  // Runs the acceptor, signals and its share of the connections.
  boost::asio::io_context ioc_{1};
  size_t next_context_ = 0;
  // After the contexts: its timers go before them. probes_[i] watches context i (ioc_ is 0).
  std::unique_ptr<LoadShedder> shedder_;
  std::vector<LoadShedder::Probe*> probes_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::mutex conns_mu_;
  std::set<std::shared_ptr<Conn>> conns_;
  std::map<std::string, size_t> conns_per_ip_;  // under conns_mu_
  std::atomic<bool> draining_{false};
  std::atomic<int> active_{0};
  std::atomic<int> in_flight_{0};
  std::unique_ptr<boost::asio::ssl::context> tls_;  // null: plain HTTP
};

}  // namespace imgd::http

#include "net/url_fetcher.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>

#include "core/errors.h"

namespace imgd {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kChunk = 64 * 1024;

struct Target {
  bool tls = false;
  std::string host;  // name or address, without brackets
  uint16_t port = 0;
  std::string host_header;
  std::string target;  // path and query
};

Error BadUrl(const std::string& detail) { return BadParameter("imageUrl", detail); }

Error FetchFailed(const std::string& detail) {
  return Unprocessable("could not fetch imageUrl: " + detail, "fetch-failed");
}

Error FromError(const beast::error_code& ec, const std::string& step) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out) {
    return Error(ErrorCode::kUpstreamTimeout, "fetch-timeout",
                 "fetching imageUrl timed out while " + step);
  }
  return FetchFailed(step + ": " + ec.message());
}

Target ParseTarget(const std::string& text) {
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) throw BadUrl("imageUrl is not an absolute URL");
  boost::urls::url_view u = *parsed;
  Target t;
  if (u.scheme_id() == boost::urls::scheme::https) {
    t.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    throw BadUrl("imageUrl must be an http or https URL");
  }
  if (u.has_userinfo()) throw BadUrl("imageUrl must not carry credentials");
  switch (u.host_type()) {
    case boost::urls::host_type::ipv6:
      t.host = u.host_ipv6_address().to_string();
      break;
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::name:
      t.host = u.host_address();
      break;
    default:
      throw BadUrl("imageUrl has no usable host");
  }
  if (t.host.empty()) throw BadUrl("imageUrl has no host");
  t.port = t.tls ? 443 : 80;
  if (u.has_port()) {
    if (u.port_number() == 0) throw BadUrl("imageUrl has an invalid port");
    t.port = u.port_number();
  }
  t.host_header = u.encoded_host_and_port();
  t.target = u.encoded_target();
  if (t.target.empty()) t.target = "/";
  return t;
}

// One exchange: request sent, answer header read; then the body in chunks.
class Exchange : public ChunkSource {
 public:
  virtual asio::awaitable<void> Start(const Target& t) = 0;
  virtual unsigned status() const = 0;
  virtual std::string location() const = 0;
};

template <class Stream>
class StreamExchange final : public Exchange {
 public:
  StreamExchange(Stream stream, Clock::time_point deadline, uint64_t max_bytes)
      : stream_(std::move(stream)), deadline_(deadline), max_bytes_(max_bytes), chunk_(kChunk) {
    parser_.body_limit(boost::none);
  }

  asio::awaitable<void> Start(const Target& t) override {
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, t.target, 11};
    req.set(bhttp::field::host, t.host_header);
    req.set(bhttp::field::user_agent, "imgd/" IMGD_VERSION);
    req.set(bhttp::field::accept, "image/jpeg, */*;q=0.5");
    req.set(bhttp::field::connection, "close");
    Expire();
    auto [ec, n] = co_await bhttp::async_write(stream_, req, kTuple);
    if (ec) throw FromError(ec, "sending the request");
    Expire();
    std::tie(ec, n) = co_await bhttp::async_read_header(stream_, buf_, parser_, kTuple);
    if (ec) throw FromError(ec, "reading the answer");
    if (auto len = parser_.content_length(); len && *len > max_bytes_ && status() / 100 == 2) {
      throw PayloadTooLarge("imageUrl's answer has " + std::to_string(*len) +
                            " bytes, over the upload limit of " + std::to_string(max_bytes_));
    }
  }
  unsigned status() const override { return parser_.get().result_int(); }
  std::string location() const override {
    auto it = parser_.get().find(bhttp::field::location);
    return it == parser_.get().end() ? std::string() : std::string(it->value());
  }

  asio::awaitable<std::span<const char>> Next() override {
    while (!parser_.is_done()) {
      parser_.get().body().data = chunk_.data();
      parser_.get().body().size = chunk_.size();
      Expire();
      auto [ec, n] = co_await bhttp::async_read(stream_, buf_, parser_, kTuple);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) throw FromError(ec, "reading the body");
      size_t got = chunk_.size() - parser_.get().body().size;
      received_ += got;
      if (received_ > max_bytes_) {
        throw PayloadTooLarge("imageUrl's answer exceeds the upload limit of " +
                              std::to_string(max_bytes_) + " bytes");
      }
      if (got > 0) co_return std::span<const char>(chunk_.data(), got);
    }
    co_return std::span<const char>();
  }

 private:
  void Expire() { beast::get_lowest_layer(stream_).expires_at(deadline_); }

  Stream stream_;
  Clock::time_point deadline_;
  uint64_t max_bytes_;
  beast::flat_buffer buf_;
  bhttp::response_parser<bhttp::buffer_body> parser_;
  std::vector<char> chunk_;
  uint64_t received_ = 0;
};

}  // namespace

UrlFetcher::UrlFetcher(FetchOptions opts)
    : opts_(std::move(opts)), tls_(asio::ssl::context::tls_client) {
  tls_.set_default_verify_paths();
  tls_.set_verify_mode(asio::ssl::verify_peer);
  tls_.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
}

UrlFetcher::~UrlFetcher() = default;

asio::awaitable<std::unique_ptr<ChunkSource>> UrlFetcher::Open(const std::string& first_url) {
  auto executor = co_await asio::this_coro::executor;
  const Clock::time_point deadline = Clock::now() + opts_.total_timeout;
  std::string url = first_url;
  for (int hop = 0;; ++hop) {
    Target t = ParseTarget(url);

    // Resolve, then keep only the addresses the policy allows; connect to exactly those.
    tcp::resolver resolver(executor);
    auto [rec, results] = co_await resolver.async_resolve(t.host, std::to_string(t.port), kTuple);
    if (rec) throw FetchFailed("cannot resolve " + t.host + ": " + rec.message());
    std::vector<tcp::endpoint> allowed;
    std::string refusal;
    for (const auto& entry : results) {
      std::string why = opts_.policy.Refusal(entry.endpoint().address(), t.port);
      if (why.empty()) {
        allowed.push_back(entry.endpoint());
      } else if (refusal.empty()) {
        refusal = why;
      }
    }
    if (allowed.empty()) {
      if (refusal.empty()) throw FetchFailed(t.host + " has no address");
      throw BadParameter("imageUrl", "imageUrl refused: " + refusal);
    }
    beast::tcp_stream tcp_stream(executor);
    tcp_stream.expires_at(std::min(deadline, Clock::now() + opts_.connect_timeout));
    auto [cec, ep] = co_await tcp_stream.async_connect(allowed, kTuple);
    if (cec) throw FromError(cec, "connecting to " + t.host);

    std::unique_ptr<Exchange> ex;
    if (t.tls) {
      beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp_stream), tls_);
      if (!SSL_set_tlsext_host_name(tls.native_handle(), t.host.c_str())) {
        throw FetchFailed("cannot set the TLS server name");
      }
      tls.set_verify_callback(asio::ssl::host_name_verification(t.host));
      beast::get_lowest_layer(tls).expires_at(deadline);
      auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, kTuple);
      if (hec) throw FromError(hec, "the TLS handshake");
      ex = std::make_unique<StreamExchange<beast::ssl_stream<beast::tcp_stream>>>(
          std::move(tls), deadline, opts_.max_bytes);
    } else {
      ex = std::make_unique<StreamExchange<beast::tcp_stream>>(std::move(tcp_stream), deadline,
                                                               opts_.max_bytes);
    }
    co_await ex->Start(t);
    const unsigned status = ex->status();
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      std::string location = ex->location();
      if (location.empty()) throw FetchFailed("a redirect without a Location");
      if (hop >= opts_.max_redirects) {
        throw FetchFailed("more than " + std::to_string(opts_.max_redirects) + " redirects");
      }
      auto ref = boost::urls::parse_uri_reference(location);
      if (!ref) throw FetchFailed("a redirect to a malformed Location");
      boost::urls::url next(url);
      next.resolve(*ref);
      next.remove_fragment();
      url = std::string(next.buffer());
      continue;
    }
    if (status / 100 != 2) {
      throw FetchFailed("the server answered " + std::to_string(status));
    }
    co_return ex;
  }
}

}  // namespace imgd

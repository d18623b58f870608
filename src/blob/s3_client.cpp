#include "blob/s3_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url.hpp>
#include <cctype>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <thread>

#include "core/clock.h"
#include "core/errors.h"
#include "core/hash.h"
#include "obs/store_metrics.h"

namespace imgd {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A connection-level failure: the request may not have reached S3 or its answer was lost.
struct NetError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool RetryableStatus(unsigned s) {
  return s == 500 || s == 502 || s == 503 || s == 504 || s == 429;
}

void Backoff(int attempt) {
  // Exponential with full jitter: 0..min(2 s, 100 ms * 2^attempt).
  thread_local std::mt19937 rng{std::random_device{}()};
  const int cap = std::min(2000, 100 << std::min(attempt, 5));
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::uniform_int_distribution<int>(cap / 4, cap)(rng)));
}

std::string Unescape(std::string s) {
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [from, to] : kEntities) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + 1)) {
      s.replace(p, std::strlen(from), to);
    }
  }
  return s;
}

}  // namespace

std::vector<std::string> XmlValues(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  for (size_t p = xml.find(open); p != std::string::npos; p = xml.find(open, p)) {
    p += open.size();
    size_t e = xml.find(close, p);
    if (e == std::string::npos) break;
    out.push_back(Unescape(xml.substr(p, e - p)));
    p = e + close.size();
  }
  return out;
}

std::string S3Response::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

S3Config S3Config::FromUrl(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "s3" || u->host().empty()) {
    throw std::invalid_argument("blob URL must be s3://bucket?endpoint=...: " + url);
  }
  S3Config c;
  c.bucket = u->host();
  std::string endpoint = "https://s3.amazonaws.com";
  for (auto p : u->params()) {
    if (p.key == "endpoint")
      endpoint = p.value;
    else if (p.key == "region")
      c.creds.region = p.value;
    else if (p.key == "style")
      c.path_style = p.value != "virtual";
    else if (p.key == "prefix")
      c.prefix = p.value;
    else if (p.key == "presign" && (p.value == "bucket" || p.value == "imgd"))
      c.presign_bucket = p.value == "bucket";
    else
      throw std::invalid_argument("unknown s3 URL parameter '" + std::string(p.key) + "'");
  }
  if (!c.prefix.empty() && c.prefix.back() != '/') c.prefix += '/';
  auto e = boost::urls::parse_uri(endpoint);
  if (!e || (e->scheme() != "http" && e->scheme() != "https") || e->host().empty()) {
    throw std::invalid_argument("s3 endpoint must be http(s)://host[:port]: " + endpoint);
  }
  c.scheme = e->scheme();
  c.host = e->host_address();
  c.port = e->has_port() ? std::string(e->port()) : (c.scheme == "https" ? "443" : "80");
  if (c.scheme == "https") {
    throw std::invalid_argument(
        "https S3 endpoints are not supported yet; put a TLS-terminating proxy on loopback");
  }
  const char* ak = std::getenv("IMGD_S3_ACCESS_KEY");
  const char* sk = std::getenv("IMGD_S3_SECRET_KEY");
  if (!ak || !sk) throw std::invalid_argument("set IMGD_S3_ACCESS_KEY and IMGD_S3_SECRET_KEY");
  c.creds.access_key = ak;
  c.creds.secret_key = sk;
  c.creds.service = "s3";
  return c;
}

// One keep-alive connection with its own io_context, so blocking callers get timeouts
// from Beast's per-operation timer.
class S3Client::Connection {
 public:
  Connection() : stream_(ioc_) {}

  bool connected() const { return connected_; }

  void Connect(const S3Config& cfg) {
    tcp::resolver resolver(ioc_);
    beast::error_code ec;
    auto results = resolver.resolve(cfg.host, cfg.port, ec);
    if (ec) throw NetError("resolve " + cfg.host + ": " + ec.message());
    stream_.expires_after(cfg.connect_timeout);
    ec = Run([&](auto handler) { stream_.async_connect(results, handler); });
    if (ec) throw NetError("connect " + cfg.host + ":" + cfg.port + ": " + ec.message());
    stream_.socket().set_option(tcp::no_delay(true));
    connected_ = true;
  }

  template <class Body>
  void Write(bhttp::request<Body>& req, std::chrono::milliseconds timeout) {
    stream_.expires_after(timeout);
    auto ec = Run([&](auto handler) { bhttp::async_write(stream_, req, handler); });
    if (ec) Fail("write: " + ec.message());
  }

  template <class Parser>
  void ReadHeader(Parser& parser, std::chrono::milliseconds timeout) {
    stream_.expires_after(timeout);
    auto ec = Run([&](auto handler) { bhttp::async_read_header(stream_, buf_, parser, handler); });
    if (ec) Fail("read: " + ec.message());
  }

  template <class Parser>
  void Read(Parser& parser, std::chrono::milliseconds timeout) {
    stream_.expires_after(timeout);
    auto ec = Run([&](auto handler) { bhttp::async_read(stream_, buf_, parser, handler); });
    if (ec == bhttp::error::need_buffer) return;
    if (ec) Fail("read: " + ec.message());
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    connected_ = false;
    buf_.clear();
  }

 private:
  [[noreturn]] void Fail(const std::string& what) {
    Close();
    throw NetError(what);
  }

  template <class Start>
  beast::error_code Run(Start start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  bool connected_ = false;
};

S3Client::S3Client(S3Config cfg) : cfg_(std::move(cfg)) {}
S3Client::~S3Client() = default;

std::unique_ptr<S3Client::Connection> S3Client::Take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return std::make_unique<Connection>();
}

void S3Client::Give(std::unique_ptr<Connection> c) {
  std::lock_guard lock(mu_);
  if (idle_.size() < cfg_.pool_size) idle_.push_back(std::move(c));
}

std::string S3Client::HostHeader() const {
  std::string host = cfg_.path_style ? cfg_.host : cfg_.bucket + "." + cfg_.host;
  const bool default_port = (cfg_.scheme == "http" && cfg_.port == "80") ||
                            (cfg_.scheme == "https" && cfg_.port == "443");
  return default_port ? host : host + ":" + cfg_.port;
}

std::string S3Client::CanonicalPath(const std::string& key) const {
  std::string path = cfg_.path_style ? "/" + cfg_.bucket : "";
  if (!key.empty()) path += "/" + UriEncode(cfg_.prefix + key, false);
  return path.empty() ? "/" : path;
}

namespace {

// The kind of S3 call, for the store-call metrics: the method, and the multipart step or
// listing it is.
std::string S3Op(const S3Client::Request& r) {
  std::string op = r.method;
  for (auto& c : op) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [k, v] : r.query) {
    if (k == "uploads") return op + (op == "post" ? " multipart-start" : " multipart-list");
    if (k == "partNumber") return op + " multipart-part";
    if (k == "uploadId") return op + " multipart-end";
    if (k == "list-type") return op + " list";
  }
  for (const auto& [k, v] : r.headers) {
    if (k == "x-amz-copy-source") return op + " copy";
  }
  return op;
}

}  // namespace

S3Response S3Client::Send(const Request& r) {
  StoreCallTimer timer("s3", S3Op(r));
  breaker_.Before();
  try {
    S3Response out = SendOnce(r, timer.Traceparent());
    breaker_.Success();
    return out;
  } catch (const StoreError&) {
    breaker_.Failure();
    throw;
  }
}

S3Response S3Client::SendOnce(const Request& r, const std::string& traceparent) {
  const std::string payload_hash = Sha256Hex(r.body);
  for (int attempt = 0;; ++attempt) {
    auto conn = Take();
    const bool reused = conn->connected();
    try {
      if (!conn->connected()) conn->Connect(cfg_);
      SigV4Request sreq;
      sreq.method = r.method;
      sreq.canonical_uri = CanonicalPath(r.key);
      sreq.query = r.query;
      sreq.payload_hash = payload_hash;
      const std::string date = AmzDate(NowMs() / 1000);
      sreq.headers = r.headers;
      sreq.headers.emplace_back("host", HostHeader());
      sreq.headers.emplace_back("x-amz-date", date);
      sreq.headers.emplace_back("x-amz-content-sha256", payload_hash);
      std::string target = sreq.canonical_uri;
      if (!r.query.empty()) target += "?" + CanonicalQuery(r.query);
      bhttp::request<bhttp::buffer_body> req{bhttp::string_to_verb(r.method), target, 11};
      for (const auto& [k, v] : sreq.headers) req.set(k, v);
      req.set(bhttp::field::authorization, SigV4Authorization(sreq, cfg_.creds, date));
      // The request's trace, for the store's own tracing (not signed: it varies per call).
      if (!traceparent.empty()) req.set("traceparent", traceparent);
      req.body().data = r.body.empty() ? nullptr : const_cast<char*>(r.body.data());
      req.body().size = r.body.size();
      req.body().more = false;
      req.content_length(r.body.size());
      conn->Write(req, cfg_.io_timeout);

      bhttp::response_parser<bhttp::string_body> parser;
      parser.body_limit(64ull << 20);
      if (r.method == "HEAD") parser.skip(true);
      conn->Read(parser, cfg_.io_timeout);
      auto res = parser.release();
      S3Response out;
      out.status = res.result_int();
      out.body = std::move(res.body());
      for (const auto& f : res) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        out.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      if (res.keep_alive()) {
        Give(std::move(conn));
      } else {
        conn->Close();
      }
      if (RetryableStatus(out.status) && r.idempotent && attempt + 1 < cfg_.max_attempts) {
        Backoff(attempt);
        continue;
      }
      return out;
    } catch (const NetError& e) {
      // A kept-alive connection the server closed meanwhile fails before the request is
      // processed: one more try on a fresh connection is safe for any call.
      const bool retry =
          (r.idempotent || (reused && attempt == 0)) && attempt + 1 < cfg_.max_attempts;
      if (!retry) {
        throw StoreError("s3 " + r.method + " " + (r.key.empty() ? cfg_.bucket : r.key) + ": " +
                         e.what());
      }
      if (!reused) Backoff(attempt);
    }
  }
}

unsigned S3Client::Stream(const std::string& key, uint64_t offset, std::optional<uint64_t> length,
                          const std::function<bool(const char*, size_t)>& sink) {
  StoreCallTimer timer("s3", "get stream");
  const std::string traceparent = timer.Traceparent();
  std::string range = "bytes=" + std::to_string(offset) + "-";
  if (length) range += std::to_string(offset + *length - 1);
  for (int attempt = 0;; ++attempt) {
    auto conn = Take();
    const bool reused = conn->connected();
    bool streamed = false;
    try {
      if (!conn->connected()) conn->Connect(cfg_);
      SigV4Request sreq;
      sreq.method = "GET";
      sreq.canonical_uri = CanonicalPath(key);
      sreq.payload_hash = Sha256Hex("");
      const std::string date = AmzDate(NowMs() / 1000);
      sreq.headers = {{"host", HostHeader()},
                      {"range", range},
                      {"x-amz-date", date},
                      {"x-amz-content-sha256", sreq.payload_hash}};
      bhttp::request<bhttp::empty_body> req{bhttp::verb::get, sreq.canonical_uri, 11};
      for (const auto& [k, v] : sreq.headers) req.set(k, v);
      if (!traceparent.empty()) req.set("traceparent", traceparent);
      req.set(bhttp::field::authorization, SigV4Authorization(sreq, cfg_.creds, date));
      conn->Write(req, cfg_.io_timeout);
      bhttp::response_parser<bhttp::buffer_body> parser;
      parser.body_limit(boost::none);
      conn->ReadHeader(parser, cfg_.io_timeout);
      const unsigned status = parser.get().result_int();
      if (status != 200 && status != 206) {
        conn->Close();
        if (RetryableStatus(status) && attempt + 1 < cfg_.max_attempts) {
          Backoff(attempt);
          continue;
        }
        return status;
      }
      std::vector<char> chunk(256 * 1024);
      bool wanted = true;
      while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        conn->Read(parser, cfg_.io_timeout);
        size_t got = chunk.size() - parser.get().body().size;
        if (got > 0) {
          streamed = true;
          if (!sink(chunk.data(), got)) {
            wanted = false;
            break;
          }
        }
      }
      if (wanted && parser.is_done() && parser.get().keep_alive()) {
        Give(std::move(conn));
      } else {
        conn->Close();  // an unread rest of the body: the connection cannot be reused
      }
      return status;
    } catch (const NetError& e) {
      // Once bytes went to the sink, the caller must decide (resume from its offset).
      if (streamed || attempt + 1 >= cfg_.max_attempts) {
        throw StoreError("s3 GET " + key + ": " + e.what());
      }
      if (!reused) Backoff(attempt);
    }
  }
}

std::string S3Client::Presign(
    const std::string& method, const std::string& key, int64_t expires_s,
    const std::vector<std::pair<std::string, std::string>>& signed_headers) {
  SigV4Request sreq;
  sreq.method = method;
  sreq.canonical_uri = CanonicalPath(key);
  sreq.headers = {{"host", HostHeader()}};
  sreq.headers.insert(sreq.headers.end(), signed_headers.begin(), signed_headers.end());
  std::string query = SigV4PresignQuery(sreq, cfg_.creds, AmzDate(NowMs() / 1000), expires_s);
  return cfg_.scheme + "://" + HostHeader() + sreq.canonical_uri + "?" + query;
}

}  // namespace imgd

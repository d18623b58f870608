#pragma once
// A small S3 client over Boost.Beast: SigV4-signed requests on pooled keep-alive
// connections, a connect timeout and a timeout on every read/write, and retries with
// exponential backoff and jitter for idempotent calls on connection failures, timeouts,
// 5xx and 429/503 SlowDown. Blocking: call from the blocking pool. Thread-safe.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "blob/sigv4.h"
#include "core/circuit_breaker.h"

namespace imgd {

struct S3Config {
  std::string bucket;
  std::string scheme = "http";  // http | https
  std::string host;             // endpoint host
  std::string port;             // endpoint port
  bool path_style = true;       // /bucket/key, else bucket.host/key
  std::string prefix;           // key prefix inside the bucket ("" or "dir/")
  bool presign_bucket =
      true;  // pre-signed uploads go straight to the bucket (presign=imgd: via imgd)
  SigV4Credentials creds;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds io_timeout{30000};  // per read or write
  int max_attempts = 4;                         // idempotent calls
  size_t pool_size = 16;                        // idle connections kept

  // s3://bucket?endpoint=http://host:port&region=us-east-1&style=path|virtual&prefix=p
  //   &presign=imgd|bucket
  // with credentials from IMGD_S3_ACCESS_KEY / IMGD_S3_SECRET_KEY.
  static S3Config FromUrl(const std::string& url);
};

struct S3Response {
  unsigned status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string Header(const std::string& name) const;
};

class S3Client {
 public:
  explicit S3Client(S3Config cfg);
  ~S3Client();

  struct Request {
    std::string method;
    std::string key;  // object key below the prefix; empty = the bucket
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string_view body;
    bool idempotent = true;
  };
  // Sends the request and reads the whole answer. Throws StoreError when the endpoint
  // cannot be reached or keeps failing (after retries for idempotent calls); HTTP errors
  // that are not retried (4xx) are returned for the caller to judge.
  S3Response Send(const Request& req);

  // Streams an object's bytes from offset: calls sink(data, n) until it returns false or
  // the object ends. Returns the HTTP status (200/206, or 404/416 with nothing streamed).
  unsigned Stream(const std::string& key, uint64_t offset, std::optional<uint64_t> length,
                  const std::function<bool(const char*, size_t)>& sink);

  // A pre-signed URL for method on key, valid expires_s seconds. signed_headers (lower-case
  // names) must be sent with exactly these values by whoever uses the URL.
  std::string Presign(const std::string& method, const std::string& key, int64_t expires_s,
                      const std::vector<std::pair<std::string, std::string>>& signed_headers = {});

  const S3Config& config() const { return cfg_; }
  const CircuitBreaker& breaker() const { return breaker_; }
  // "/bucket/prefix+key" (path style) or "/prefix+key", encoded.
  std::string CanonicalPath(const std::string& key) const;

  class Connection;

 private:
  // One request (retried on a stale kept-alive connection); traceparent, when not empty,
  // goes along as a header.
  S3Response SendOnce(const Request& req, const std::string& traceparent);
  std::unique_ptr<Connection> Take();
  void Give(std::unique_ptr<Connection> c);
  std::string HostHeader() const;

  S3Config cfg_;
  CircuitBreaker breaker_{"the object store"};
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

// "<Tag>text</Tag>" values in an S3 XML answer, unescaped.
std::vector<std::string> XmlValues(const std::string& xml, const std::string& tag);

}  // namespace imgd

#pragma once
// Fetches a user-supplied URL (seed's imageUrl) with SSRF defences: http/https only, no
// credentials in the URL, every resolved address and every redirect target checked by the
// AddressPolicy before connecting (the checked address is the one connected to, so DNS
// rebinding cannot swap it), at most max_redirects redirects, a byte limit enforced while
// streaming, a connect timeout and a total timeout that covers the whole body.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/chunk_source.h"
#include "net/address_policy.h"

namespace imgd {

struct FetchOptions {
  AddressPolicy policy;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{60000};
  int max_redirects = 3;
  uint64_t max_bytes = 1ull << 30;
};

class UrlFetcher {
 public:
  explicit UrlFetcher(FetchOptions opts);
  ~UrlFetcher();

  // GETs url on the calling coroutine's executor and returns the body of its 2xx answer.
  // Throws Error: 400 (malformed or refused URL, refused address), 413 (larger than
  // max_bytes, declared or received), 422 (unreachable, TLS failure, non-2xx answer, too
  // many redirects), 504 (a timeout). The body's Next() throws the same.
  boost::asio::awaitable<std::unique_ptr<ChunkSource>> Open(const std::string& url);

 private:
  FetchOptions opts_;
  boost::asio::ssl::context tls_;
};

}  // namespace imgd

#pragma once
// Idempotency-Key: a retried request (same user, same key, same request) gets the first
// request's answer instead of running again; the same key with a different request is
// refused. Records live in the MetaStore (so every node sees them) for `ttl`.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "core/offload.h"
#include "meta/idempotency_store.h"

namespace imgd {

struct IdempotencyOptions {
  int64_t ttl_ms = 24 * 3600 * 1000;  // how long a finished answer is replayed
  // A record still running after this long belongs to a request that died with its node.
  int64_t running_stale_ms = 15 * 60 * 1000;
  // How long a request waits for a concurrent one holding its key before giving up (409).
  std::chrono::milliseconds wait{120'000};
};

class IdempotencyService {
 public:
  IdempotencyService(IdempotencyStore& records, Pools pools, IdempotencyOptions opts);

  // 400 unless key is 1-255 visible ASCII characters.
  static void CheckKey(const std::string& key);

  // Claims (user_id, key) for a request whose headers-level fingerprint is `fingerprint`.
  // nullopt: the caller owns the key and must call Complete or Release. Otherwise the
  // finished record of an earlier request (waiting while a concurrent one runs; 409 with
  // Retry-After when it runs longer than opts.wait).
  boost::asio::awaitable<std::optional<IdempotencyRecord>> Claim(const std::string& user_id,
                                                                 const std::string& key,
                                                                 const std::string& fingerprint);
  boost::asio::awaitable<void> Complete(const std::string& user_id, const std::string& key,
                                        const IdempotencyRecord& record);
  boost::asio::awaitable<void> Release(const std::string& user_id, const std::string& key);

  // Blocking maintenance: forgets records older than the ttl. Returns how many.
  size_t Sweep(int64_t now_ms);

 private:
  IdempotencyStore& records_;
  Pools pools_;
  IdempotencyOptions opts_;
};

}  // namespace imgd

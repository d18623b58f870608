#include "service/idempotency_service.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/clock.h"
#include "core/errors.h"

namespace imgd {

IdempotencyService::IdempotencyService(IdempotencyStore& records, Pools pools,
                                       IdempotencyOptions opts)
    : records_(records), pools_(pools), opts_(opts) {}

void IdempotencyService::CheckKey(const std::string& key) {
  bool ok = !key.empty() && key.size() <= 255;
  for (char c : key) ok = ok && c > 0x20 && c < 0x7f;
  if (!ok) {
    throw BadParameter("Idempotency-Key", "Idempotency-Key must be 1-255 visible ASCII characters");
  }
}

boost::asio::awaitable<std::optional<IdempotencyRecord>> IdempotencyService::Claim(
    const std::string& user_id, const std::string& key, const std::string& fingerprint) {
  const auto deadline = std::chrono::steady_clock::now() + opts_.wait;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  auto delay = std::chrono::milliseconds(5);
  for (;;) {
    auto existing = co_await Offload(pools_.blocking, [&]() -> std::optional<IdempotencyRecord> {
      const int64_t now = NowMs();
      if (records_.ClaimIdempotencyKey(user_id, key, fingerprint, now, now - opts_.running_stale_ms,
                                       now - opts_.ttl_ms)) {
        return std::nullopt;
      }
      auto r = records_.GetIdempotencyKey(user_id, key);
      // Gone between the two calls (released by a failed request): claim again.
      return r ? r : std::optional<IdempotencyRecord>(IdempotencyRecord{});
    });
    if (!existing) co_return std::nullopt;
    if (existing->done) co_return existing;
    if (std::chrono::steady_clock::now() >= deadline) {
      Error e = Conflict("a request with this Idempotency-Key is still running",
                         "idempotency-key-in-use");
      e.retry_after = 1;
      throw e;
    }
    // Another request holds the key: wait for its answer.
    timer.expires_after(delay);
    co_await timer.async_wait(boost::asio::use_awaitable);
    delay = std::min(delay * 2, std::chrono::milliseconds(100));
  }
}

boost::asio::awaitable<void> IdempotencyService::Complete(const std::string& user_id,
                                                          const std::string& key,
                                                          const IdempotencyRecord& record) {
  co_await Offload(pools_.blocking, [&] { records_.CompleteIdempotencyKey(user_id, key, record); });
}

boost::asio::awaitable<void> IdempotencyService::Release(const std::string& user_id,
                                                         const std::string& key) {
  co_await Offload(pools_.blocking, [&] { records_.ReleaseIdempotencyKey(user_id, key); });
}

size_t IdempotencyService::Sweep(int64_t now_ms) {
  return records_.DeleteExpiredIdempotencyKeys(now_ms - opts_.ttl_ms);
}

}  // namespace imgd

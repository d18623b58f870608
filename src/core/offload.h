#pragma once
// Runs blocking work (disk, SQLite, hashing, decoding) on a thread pool and resumes the
// calling coroutine on its own executor, so network threads never block. The caller's
// current trace (core/trace.h) is current on the pool thread while the work runs.
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/trace.h"
#include "core/traced_executor.h"

namespace imgd {

// The pools shared by the services. `blocking` is for I/O waits (disk, database);
// `cpu` is sized to the cores, for decoding and hashing-heavy work.
struct Pools {
  boost::asio::thread_pool& blocking;
  boost::asio::thread_pool& cpu;
};

namespace detail {
// What a pool thread hands back: the work's value, or the exception it threw.
template <typename R>
struct OffloadOutcome {
  std::exception_ptr error;
  std::optional<R> value;
};
template <>
struct OffloadOutcome<void> {
  std::exception_ptr error;
};

template <typename R, typename F>
OffloadOutcome<R> RunCaught(F& fn, const std::optional<TraceContext>& trace) noexcept {
  TraceScope scope(trace ? &*trace : nullptr);
  OffloadOutcome<R> out;
  try {
    if constexpr (std::is_void_v<R>) {
      fn();
    } else {
      out.value.emplace(fn());
    }
  } catch (...) {
    out.error = std::current_exception();
  }
  return out;
}
}  // namespace detail

// Runs f on pool and resumes the caller on its own executor with f's value (or exception).
// One trip each way: f is posted to pool, and its outcome straight to the caller's executor.
// (co_spawn would take a third: when the spawned coroutine finishes without having waited,
// Asio posts it once more to pool before completing, so a busy pool delayed every return by
// its whole queue: an upload's validation came back 140 ms late at p90 under overload.)
template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> Offload(boost::asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  using Outcome = detail::OffloadOutcome<R>;
  std::optional<TraceContext> trace;
  if (const TraceContext* current = CurrentTrace()) trace = *current;
  auto initiate = [&pool](auto handler, F fn, std::optional<TraceContext> tr) {
    // The caller's executor, kept busy (outstanding work) until the outcome is back on it.
    auto back = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                    boost::asio::execution::outstanding_work.tracked);
    boost::asio::post(pool, [handler = std::move(handler), fn = std::move(fn), tr = std::move(tr),
                             back = std::move(back)]() mutable {
      Outcome outcome = detail::RunCaught<R>(fn, tr);
      auto to = std::move(back);
      boost::asio::post(to, [handler = std::move(handler), outcome = std::move(outcome)]() mutable {
        std::move(handler)(std::move(outcome));
      });
    });
  };
  Outcome outcome =
      co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(Outcome)>(
          std::move(initiate), boost::asio::use_awaitable, std::move(f), std::move(trace));
  if (outcome.error) std::rethrow_exception(outcome.error);
  if constexpr (!std::is_void_v<R>) co_return std::move(*outcome.value);
}

// Runs a whole coroutine on pool, with the caller's trace current on each of its steps, and
// resumes the caller when it is done. For a chain of blocking calls: Offloaded one by one,
// each would come back through the caller's (network) thread in between, and each return
// waits behind everything queued there (tens of ms on a busy thread, eight times for an
// upload); run whole, the chain hops between pool threads and comes back once.
template <typename T>
boost::asio::awaitable<T> OffloadCoroutine(boost::asio::thread_pool& pool,
                                           boost::asio::awaitable<T> work) {
  auto slot = std::make_shared<TraceSlot>();
  if (const TraceContext* current = CurrentTrace()) slot->trace = *current;
  TracedExecutor on_pool(pool.get_executor(), std::move(slot));
  if constexpr (std::is_void_v<T>) {
    co_await boost::asio::co_spawn(on_pool, std::move(work), boost::asio::use_awaitable);
  } else {
    co_return co_await boost::asio::co_spawn(on_pool, std::move(work), boost::asio::use_awaitable);
  }
}

}  // namespace imgd

#pragma once
// Runs blocking work (disk, SQLite, hashing, decoding) on a thread pool and resumes the
// calling coroutine on its own executor, so network threads never block. The caller's
// current trace (core/trace.h) is current on the pool thread while the work runs.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
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
// The pool side of Offload. The trace is a coroutine parameter, not a lambda capture: GCC 12
// mishandles non-trivial captures of a coroutine lambda moved into co_spawn.
template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> RunWithTrace(F fn,
                                                              std::optional<TraceContext> trace) {
  TraceScope scope(trace ? &*trace : nullptr);
  co_return fn();
}
}  // namespace detail

template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> Offload(boost::asio::thread_pool& pool, F f) {
  const TraceContext* current = CurrentTrace();
  std::optional<TraceContext> trace;
  if (current) trace = *current;
  co_return co_await boost::asio::co_spawn(pool.get_executor(),
                                           detail::RunWithTrace(std::move(f), std::move(trace)),
                                           boost::asio::use_awaitable);
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

#pragma once
// Runs blocking work (disk, SQLite, hashing, decoding) on a thread pool and resumes the
// calling coroutine on its own executor, so network threads never block. The caller's
// current trace (core/trace.h) is current on the pool thread while the work runs.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/trace.h"

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

}  // namespace imgd

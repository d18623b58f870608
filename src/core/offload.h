#pragma once
// Runs blocking work (disk, SQLite, hashing, decoding) on a thread pool and resumes the
// calling coroutine on its own executor, so network threads never block.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace imgd {

// The pools shared by the services. `blocking` is for I/O waits (disk, database);
// `cpu` is sized to the cores, for decoding and hashing-heavy work.
struct Pools {
  boost::asio::thread_pool& blocking;
  boost::asio::thread_pool& cpu;
};

template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> Offload(boost::asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  co_return co_await boost::asio::co_spawn(
      pool.get_executor(),
      [fn = std::move(f)]() mutable -> boost::asio::awaitable<R> { co_return fn(); },
      boost::asio::use_awaitable);
}

}  // namespace imgd

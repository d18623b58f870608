#pragma once
// Runs a service coroutine to its end on the calling thread, for in-process service tests.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>

namespace imgd::testing {

// Its offloaded steps run on their pools; an exception it ends with is rethrown here.
template <typename T>
T RunToEnd(boost::asio::awaitable<T> a) {
  boost::asio::io_context ioc;
  std::optional<T> out;
  std::exception_ptr failure;
  boost::asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
    failure = e;
    if (!e) out = std::move(v);
  });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*out);
}

inline void RunToEnd(boost::asio::awaitable<void> a) {
  boost::asio::io_context ioc;
  std::exception_ptr failure;
  boost::asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace imgd::testing

#pragma once
// An executor that makes a request's trace (core/trace.h) current on the thread for every
// step it runs: each resumption of a coroutine spawned on it, inline or posted, goes through
// execute(). Everything else is the wrapped executor's. A connection's coroutine runs on one
// (server.cpp); so does a coroutine offloaded whole to a pool (offload.h).
#include <boost/asio/execution.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>
#include <memory>
#include <type_traits>
#include <utility>

#include "trace_stub.h"

namespace imgd {

// The trace of the request being served (a connection serves one request at a time).
struct TraceSlot {
  TraceContext trace;
};

template <class Inner>
class TracedExecutor {
 public:
  TracedExecutor(Inner inner, std::shared_ptr<TraceSlot> slot) noexcept
      : inner_(std::move(inner)), slot_(std::move(slot)) {}

  template <class F>
  void execute(F&& f) const {
    inner_.execute(Step<std::decay_t<F>>{slot_, std::forward<F>(f)});
  }

  template <class Property>
  auto query(const Property& p) const
      -> decltype(boost::asio::query(std::declval<const Inner&>(), p)) {
    return boost::asio::query(inner_, p);
  }
  template <class Property>
  auto require(const Property& p) const -> TracedExecutor<
      std::decay_t<decltype(boost::asio::require(std::declval<const Inner&>(), p))>> {
    return {boost::asio::require(inner_, p), slot_};
  }
  template <class Property>
  auto prefer(const Property& p) const -> TracedExecutor<
      std::decay_t<decltype(boost::asio::prefer(std::declval<const Inner&>(), p))>> {
    return {boost::asio::prefer(inner_, p), slot_};
  }

  friend bool operator==(const TracedExecutor& a, const TracedExecutor& b) noexcept {
    return a.inner_ == b.inner_ && a.slot_ == b.slot_;
  }
  friend bool operator!=(const TracedExecutor& a, const TracedExecutor& b) noexcept {
    return !(a == b);
  }

 private:
  template <class F>
  struct Step {
    std::shared_ptr<TraceSlot> slot;
    F f;
    void operator()() {
      TraceScope scope(&slot->trace);
      f();
    }
  };

  Inner inner_;
  std::shared_ptr<TraceSlot> slot_;
};

}  // namespace imgd

// Offload (core/offload.h): the work runs on the pool, the caller resumes on its own thread
// with the value or the exception, and the return trip does not wait behind the pool's queue.
#include "core/offload.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/trace.h"

namespace asio = boost::asio;
using namespace imgd;

namespace {

// Runs coroutine body on io until it finishes (the io_context runs on this thread).
template <typename Body>
void RunOnIo(asio::io_context& io, Body body) {
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await body();
        finished = true;
      },
      asio::detached);
  io.run();
  ASSERT_TRUE(finished);
}

}  // namespace

TEST(Offload, RunsOnThePoolAndResumesOnTheCallersThread) {
  asio::io_context io;
  asio::thread_pool pool(2);
  const auto caller = std::this_thread::get_id();
  RunOnIo(io, [&]() -> asio::awaitable<void> {
    std::thread::id worker;
    auto value = co_await Offload(pool, [&] {
      worker = std::this_thread::get_id();
      return std::make_unique<std::string>("bytes");  // move-only values come back too
    });
    EXPECT_EQ(*value, "bytes");
    EXPECT_NE(worker, caller);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    int calls = 0;
    co_await Offload(pool, [&] { ++calls; });  // void work
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(std::this_thread::get_id(), caller);
  });
  pool.join();
}

TEST(Offload, RethrowsTheWorksExceptionOnTheCallersThread) {
  asio::io_context io;
  asio::thread_pool pool(1);
  const auto caller = std::this_thread::get_id();
  RunOnIo(io, [&]() -> asio::awaitable<void> {
    std::string caught;
    try {
      co_await Offload(pool, []() -> int { throw std::runtime_error("disk full"); });
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
    EXPECT_EQ(caught, "disk full");
    EXPECT_EQ(std::this_thread::get_id(), caller);
  });
  pool.join();
}

TEST(Offload, MakesTheCallersTraceCurrentOnThePool) {
  asio::io_context io;
  asio::thread_pool pool(1);
  TraceContext trace;
  trace.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  trace.span_id = "00f067aa0ba902b7";
  RunOnIo(io, [&]() -> asio::awaitable<void> {
    TraceScope scope(&trace);
    std::string seen = co_await Offload(pool, [] {
      const TraceContext* t = CurrentTrace();
      return t ? t->trace_id : std::string("none");
    });
    EXPECT_EQ(seen, trace.trace_id);
  });
  pool.join();
}

// The return trip goes straight to the caller: work queued on the pool after the offloaded
// function (here a task that blocks until the caller has resumed) must not hold it back.
// Through co_spawn the result was posted to the pool once more, behind that task.
TEST(Offload, ReturnDoesNotWaitBehindThePoolsQueue) {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::promise<void> caller_resumed;
  std::atomic<bool> blocker_timed_out{false};
  RunOnIo(io, [&]() -> asio::awaitable<void> {
    co_await Offload(pool, [&] {
      // Queued behind this function on the pool's only thread.
      asio::post(pool, [&, resumed = caller_resumed.get_future()] {
        if (resumed.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
          blocker_timed_out = true;
        }
      });
    });
    caller_resumed.set_value();
  });
  pool.join();
  EXPECT_FALSE(blocker_timed_out) << "the caller resumed only after the pool's queue drained";
}

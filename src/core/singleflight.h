#pragma once
// Coalesces concurrent work on the same key: the first caller runs it, later callers
// arriving while it runs wait (without blocking a thread) and receive the same result or
// exception. Nothing is cached after the run ends. Thread-safe.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace imgd {

template <typename T>
class SingleFlight {
 public:
  // Runs fn for key unless a run for key is in progress, in which case waits for that run.
  // `shared` (optional) is set to whether this caller joined another's run.
  boost::asio::awaitable<T> Do(const std::string& key,
                               std::function<boost::asio::awaitable<T>()> fn,
                               bool* shared = nullptr) {
    std::shared_ptr<Call> call;
    bool leader = false;
    {
      auto ex = co_await boost::asio::this_coro::executor;
      std::lock_guard lock(mu_);
      auto& slot = calls_[key];
      if (!slot) {
        slot = std::make_shared<Call>(ex);
        leader = true;
      }
      call = slot;
    }
    if (shared) *shared = !leader;
    if (!leader) {
      // The leader closes the channel when done: every pending and later receive completes
      // (on the waiter's own executor), a broadcast without blocking a thread.
      boost::system::error_code ec;
      co_await call->done.async_receive(
          boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (call->error) std::rethrow_exception(call->error);
      co_return *call->value;
    }
    try {
      call->value.emplace(co_await fn());
    } catch (...) {
      call->error = std::current_exception();
    }
    {
      std::lock_guard lock(mu_);
      calls_.erase(key);
    }
    call->done.close();  // publishes value/error: they are written before, read after
    if (call->error) std::rethrow_exception(call->error);
    co_return *call->value;
  }

 private:
  using Channel = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;
  struct Call {
    explicit Call(boost::asio::any_io_executor ex) : done(ex, 0) {}
    Channel done;
    std::exception_ptr error;
    std::optional<T> value;
  };

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Call>> calls_;
};

}  // namespace imgd

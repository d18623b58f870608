#pragma once
// Coalesces concurrent work on the same key: the first caller runs it, later callers
// arriving while it runs wait (without blocking a thread) and receive the same result or
// exception. Nothing is cached after the run ends. Thread-safe.
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

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
      std::lock_guard lock(mu_);
      auto& slot = calls_[key];
      if (!slot) {
        slot = std::make_shared<Call>();
        leader = true;
      }
      call = slot;
    }
    if (shared) *shared = !leader;
    if (!leader) {
      co_await Wait(call);
      if (call->error) std::rethrow_exception(call->error);
      co_return *call->value;
    }
    std::exception_ptr error;
    std::optional<T> value;
    try {
      value.emplace(co_await fn());
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(mu_);
      calls_.erase(key);
    }
    std::vector<std::function<void()>> waiters;
    {
      std::lock_guard lock(call->mu);
      call->error = error;
      call->value = value;
      call->done = true;
      waiters.swap(call->waiters);
    }
    for (auto& w : waiters) w();
    if (error) std::rethrow_exception(error);
    co_return std::move(*value);
  }

  // Runs in progress (for metrics and tests).
  size_t InFlight() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  struct Call {
    std::mutex mu;
    bool done = false;
    std::exception_ptr error;
    std::optional<T> value;
    std::vector<std::function<void()>> waiters;
  };

  // Suspends until call is done; resumes on the waiter's own executor.
  static boost::asio::awaitable<void> Wait(std::shared_ptr<Call> call) {
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
        [call](auto handler) {
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          auto resume = [h] {
            auto ex = boost::asio::get_associated_executor(*h);
            boost::asio::post(ex, [h] { (*h)(); });
          };
          std::unique_lock lock(call->mu);
          if (call->done) {
            lock.unlock();
            resume();
          } else {
            call->waiters.push_back(std::move(resume));
          }
        },
        boost::asio::use_awaitable);
  }

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Call>> calls_;
};

}  // namespace imgd

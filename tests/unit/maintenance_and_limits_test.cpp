// What the composition root wires around the server: the maintenance thread (tasks run on
// their interval, a failing one keeps its schedule, Stop waits) and the per-address request
// limit applied before routing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "api/routes.h"
#include "cli/periodic_tasks.h"
#include "core/errors.h"
#include "core/rate_limiter.h"
#include "obs/metrics.h"

namespace imgd {
namespace {

using namespace std::chrono_literals;
namespace bhttp = boost::beast::http;

// Polls cond until it holds or 10 s pass.
bool Eventually(const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);  // polling a condition with a deadline
  }
  return true;
}

TEST(PeriodicTasksTest, TasksRunOnTheirIntervalAndAFailureKeepsTheSchedule) {
  cli::PeriodicTasks tasks;
  std::atomic<int> fast{0}, failing{0}, slow{0};
  tasks.Add("fast", 5ms, [&] { ++fast; });
  tasks.Add("failing", 5ms, [&] {
    ++failing;
    throw std::runtime_error("boom");
  });
  tasks.Add("slow", 1h, [&] { ++slow; });
  EXPECT_EQ(fast.load(), 0);  // nothing before Start
  tasks.Start();
  EXPECT_TRUE(Eventually([&] { return fast >= 3 && failing >= 3; }));
  tasks.Stop();
  const int after_stop = fast.load();
  EXPECT_EQ(slow.load(), 0);
  tasks.Stop();                        // idempotent
  EXPECT_EQ(fast.load(), after_stop);  // Stop returned: nothing runs any more
}

TEST(PeriodicTasksTest, StopWaitsForARunningTask) {
  cli::PeriodicTasks tasks;
  std::atomic<bool> started{false}, stopping{false}, finished{false};
  tasks.Add("long", 1ms, [&] {
    if (started.exchange(true)) return;
    // Still running when Stop is called: it ends only once the stopper is inside Stop.
    while (!stopping.load()) std::this_thread::yield();
    finished = true;
  });
  tasks.Start();
  ASSERT_TRUE(Eventually([&] { return started.load(); }));
  std::thread stopper([&] {
    stopping = true;
    tasks.Stop();
    // Stop returned: the task that was running had finished.
    EXPECT_TRUE(finished.load());
  });
  stopper.join();
  EXPECT_TRUE(finished.load());
}

TEST(ClientRequestLimitTest, LimitsAddressesButNotHealthChecks) {
  RateLimiter limiter(1, 2);  // one a second, bursts of two
  Metrics metrics;
  auto admit = api::ClientRequestLimit(limiter, metrics);
  admit(bhttp::verb::get, "/v1/images", "127.0.0.9");
  admit(bhttp::verb::get, "/v1/images", "127.0.0.9");
  try {
    admit(bhttp::verb::get, "/v1/images", "127.0.0.9");
    FAIL() << "third request in the burst admitted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kRateLimited);
    EXPECT_GE(e.retry_after, 1);
    ASSERT_TRUE(e.rate_limit);
    EXPECT_EQ(e.rate_limit->limit, 2);
  }
  admit(bhttp::verb::get, "/v1/images", "127.0.0.10");  // another address has its own
  for (int i = 0; i < 10; ++i) {
    admit(bhttp::verb::get, "/healthz", "127.0.0.9");
    admit(bhttp::verb::head, "/metrics", "127.0.0.9");
  }
  EXPECT_THROW(admit(bhttp::verb::post, "/healthz", "127.0.0.9"), Error);
  EXPECT_NE(metrics.Render().find("imgd_rate_limited_total{limit=\"client_requests\"} 2"),
            std::string::npos);
}

}  // namespace
}  // namespace imgd

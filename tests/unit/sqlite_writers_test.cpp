// SQLite's writers of one process take turns on the engine's mutex (sqlite_engine.cpp):
// transactions, single writes and rolled-back transactions from many connections at once all
// finish, and none waits out the busy timeout (a writer that kept the mutex would make the
// next one wait 10 s).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "meta/sql_session.h"
#include "test_util.h"

namespace imgd {
namespace {

TEST(SqliteWriters, ManyConnectionsWritingAtOnceTakeTurnsAndAllFinish) {
  testing::TempDir dir;
  auto engine = OpenSqliteEngine((dir.path() / "w.db").string(), 4);
  engine->Connect()->ExecScript("CREATE TABLE t(id INTEGER PRIMARY KEY, who INTEGER)");
  constexpr int kThreads = 4, kRounds = 40;
  std::vector<double> longest(kThreads);
  std::vector<std::thread> writers;
  for (int w = 0; w < kThreads; ++w) {
    writers.emplace_back([&, w] {
      auto s = engine->Connect();
      auto timed = [&](auto fn) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
        longest[w] = std::max(longest[w], took.count());
      };
      for (int i = 0; i < kRounds; ++i) {
        timed([&] {
          s->Begin(true);
          s->Exec("INSERT INTO t(who) VALUES (?)", {int64_t{w}});
          s->Commit();
        });
        timed([&] { s->Exec("INSERT INTO t(who) VALUES (?)", {int64_t{w}}); });
        timed([&] {
          s->Begin(true);
          s->Exec("INSERT INTO t(who) VALUES (?)", {int64_t{-1}});
          s->Rollback();
        });
        timed([&] { s->Exec("SELECT COUNT(*) FROM t"); });
      }
    });
  }
  for (auto& t : writers) t.join();
  auto rows = engine->Connect()->Exec("SELECT COUNT(*), MIN(who) FROM t");
  EXPECT_EQ(rows.Int(0, 0), kThreads * kRounds * 2);
  EXPECT_EQ(rows.Int(0, 1), 0);  // every rolled-back row is gone
  EXPECT_LT(*std::max_element(longest.begin(), longest.end()), 5.0);
}

}  // namespace
}  // namespace imgd

// Overload shedding's control law: bursts move it little, a persistent delay over the target
// raises the refused fraction to its level within a few hundred ms, it never refuses
// everything, and it falls back to nothing once the delay is gone.
#include "http/load_shedder.h"

#include <gtest/gtest.h>

using imgd::http::LoadShedder;
using namespace std::chrono_literals;

namespace {

double Probes(double f, std::chrono::milliseconds lag, int probes) {
  for (int i = 0; i < probes; ++i) f = LoadShedder::NextFraction(f, lag, 5ms, 40ms);
  return f;
}

}  // namespace

TEST(LoadShedder, ABurstMovesLittleAPersistentDelayALot) {
  EXPECT_DOUBLE_EQ(Probes(0, 60ms, 1), 0.02);
  EXPECT_NEAR(Probes(0, 60ms, 20), 0.40, 1e-9);   // 100 ms over the target
  EXPECT_DOUBLE_EQ(Probes(0, 60ms, 1000), 0.98);  // capped: some requests always get through
}

TEST(LoadShedder, BetweenHalfTheTargetAndTheTargetItHolds) {
  EXPECT_DOUBLE_EQ(Probes(0.3, 30ms, 50), 0.3);
}

TEST(LoadShedder, UnderHalfTheTargetItFallsToNothingMoreSlowlyThanItRose) {
  EXPECT_NEAR(Probes(0.4, 1ms, 20), 0.2, 1e-9);
  EXPECT_DOUBLE_EQ(Probes(0.4, 1ms, 100), 0.0);
}

TEST(LoadShedder, ALateProbeCountsForTheProbesThatCouldNotRunUpToTwenty) {
  EXPECT_NEAR(LoadShedder::NextFraction(0, 300ms, 300ms, 40ms), 0.40, 1e-9);
  EXPECT_NEAR(LoadShedder::NextFraction(0, 50ms, 10ms, 40ms), 0.04, 1e-9);
}

#include "common/periodic_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace triage {
namespace {

TEST(PeriodicWorker, RunsFirstWhenAskedKeepsGoingAfterAThrowAndStopsAtOnce) {
  std::atomic<int> runs{0};
  PeriodicWorker w(
      "test",
      [&] {
        ++runs;
        if (runs == 2) throw std::runtime_error("a bug");
      },
      [] { return int64_t{1}; });
  w.start(/*run_first=*/true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (runs < 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GE(runs.load(), 5);  // the throw on run 2 did not end the loop
  w.stop();
  const int after = runs.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(runs.load(), after);  // stopped means no more runs
}

TEST(PeriodicWorker, StopWakesALongWaitAndStartAfterStopDoesNothing) {
  std::atomic<int> runs{0};
  PeriodicWorker w("test", [&] { ++runs; }, [] { return int64_t{3'600'000}; });
  w.start(/*run_first=*/false);
  const auto t0 = std::chrono::steady_clock::now();
  w.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(runs.load(), 0);  // the hour-long first wait was cut short, the task never ran
  w.start(/*run_first=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(runs.load(), 0);
}

}  // namespace
}  // namespace triage

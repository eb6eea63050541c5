#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "control/random.h"
#include "control/window_counter.h"

namespace triage::control {
namespace {

TEST(ControlWindowCounterTest, CountsWithinTheWindowAndForgetsOlderBuckets) {
  WindowCounter w(10'000, 10);  // 1 s buckets
  w.add(100'000, 0, 3);
  w.add(100'500, 1);
  w.add(105'000, 0);
  EXPECT_EQ(w.totals(105'000), (std::array<int64_t, 2>{4, 1}));
  EXPECT_EQ(w.totals(109'999), (std::array<int64_t, 2>{4, 1}));
  EXPECT_EQ(w.totals(110'000), (std::array<int64_t, 2>{1, 0}));  // bucket 100 s left
  w.add(110'000, 1);                                             // reuses bucket 100's slot
  EXPECT_EQ(w.totals(110'000), (std::array<int64_t, 2>{1, 1}));
  EXPECT_EQ(w.totals(200'000), (std::array<int64_t, 2>{0, 0}));
  w.clear();
  EXPECT_EQ(w.totals(110'000), (std::array<int64_t, 2>{0, 0}));
}

TEST(ControlWindowCounterTest, ConcurrentAddsAreAllCounted) {
  WindowCounter w(10'000, 10);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10'000; ++i) w.add(50'000 + (i % 5) * 1000, t % 2);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(w.totals(55'000), (std::array<int64_t, 2>{40'000, 40'000}));
}

TEST(ControlRandomTest, SeededSourceReplaysAndUniformHelpersStayInRange) {
  SeededRandom a(5), b(5), c(6);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
  }
  ThreadLocalRandom tl;
  std::vector<int> hist(7, 0);
  for (int i = 0; i < 70'000; ++i) {
    const uint64_t v = uniform_below(tl, 7);
    ASSERT_LT(v, 7u);
    ++hist[v];
    const double u = uniform_unit(tl);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  for (int h : hist) EXPECT_NEAR(h, 10'000, 600);
}

}  // namespace
}  // namespace triage::control

// Many threads against one key: reservations must make the limits exact, never approximate.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "control/limits.h"
#include "control/memory_limits.h"
#include "control/random.h"
#include "test_time.h"

namespace triage::control {
namespace {

using testing::utc_ms;

constexpr int kThreads = 32;

// Runs `body(thread_index)` on kThreads threads released together.
template <typename Body>
void run_together(Body body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      body(t);
    });
  }
  while (ready.load() < kThreads) std::this_thread::yield();
  go.store(true);
  for (auto& th : threads) th.join();
}

TEST(LimitsConcurrencyTest, BudgetAdmitsExactlyWhatItAllowsUnderContention) {
  InMemoryLimitBackend backend;
  KeyLimits limits;
  limits.usd_per_day = 10.0;  // 1000 requests of $0.01
  const int64_t now = utc_ms(2024, 3, 10, 12);
  std::atomic<int64_t> admitted{0};
  std::atomic<int64_t> refused_other{0};
  run_together([&](int) {
    for (int i = 0; i < 200; ++i) {
      auto r = reserve(backend, "key_a", "team-a", limits, now, 100, 0.01);
      if (auto* res = std::get_if<Reservation>(&r)) {
        admitted.fetch_add(1);
        std::this_thread::yield();  // hold the reservation while others try
        res->settle(100, 0.01);
      } else if (std::get<LimitRefusal>(r).limit != LimitKind::kUsdPerDay) {
        refused_other.fetch_add(1);
      }
    }
  });
  EXPECT_EQ(admitted.load(), 1000);  // 32 x 200 = 6400 tried
  EXPECT_EQ(refused_other.load(), 0);
  const KeySpend s = backend.spend("key_a", now);
  EXPECT_EQ(s.today_nano_usd, 10'000'000'000);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.requests, 1000);
}

TEST(LimitsConcurrencyTest, SpendNeverExceedsTheBudgetWhenActualsVary) {
  InMemoryLimitBackend backend;
  KeyLimits limits;
  limits.usd_per_day = 5.0;
  const int64_t now = utc_ms(2024, 3, 10, 12);
  constexpr double kWorstCase = 0.01;
  std::atomic<int64_t> max_in_use{0};
  run_together([&](int t) {
    SeededRandom rng(static_cast<uint64_t>(t) + 1);
    for (int i = 0; i < 400; ++i) {
      auto r = reserve(backend, "key_a", "team-a", limits, now, 100, kWorstCase);
      auto* res = std::get_if<Reservation>(&r);
      if (res == nullptr) continue;
      const KeySpend mid = backend.spend("key_a", now);
      const int64_t in_use = mid.today_nano_usd + mid.in_flight_nano_usd;
      int64_t seen = max_in_use.load();
      while (in_use > seen && !max_in_use.compare_exchange_weak(seen, in_use)) {
      }
      // Actual cost between 10% and 100% of the worst case; a few streams are cut short.
      const double actual = kWorstCase * (0.1 + 0.9 * uniform_unit(rng));
      if (i % 17 == 0) {
        res->report(40, actual / 2);  // dropped mid-stream: charged what was reported
      } else {
        res->settle(100, actual);
      }
    }
  });
  const KeySpend s = backend.spend("key_a", now);
  EXPECT_LE(s.today_nano_usd, 5'000'000'000);
  EXPECT_LE(max_in_use.load(), 5'000'000'000);  // reservations included, at every moment
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_GT(s.released_unsettled, 0);
  // The budget was used up, not merely respected: what is left is less than one worst case.
  EXPECT_GT(s.today_nano_usd, 5'000'000'000 - usd_to_nanos(kWorstCase));
  // And the limiter agrees with itself: one more worst case does not fit.
  EXPECT_TRUE(std::holds_alternative<LimitRefusal>(
      reserve(backend, "key_a", "team-a", limits, now, 100, kWorstCase)));
}

TEST(LimitsConcurrencyTest, RequestsAndTokensPerMinuteAreExactUnderContention) {
  InMemoryLimitBackend backend;
  KeyLimits rpm;
  rpm.requests_per_minute = 500;
  KeyLimits tpm;
  tpm.tokens_per_minute = 1000;  // 142 requests of 7 tokens
  std::atomic<int64_t> rpm_admitted{0};
  std::atomic<int64_t> tpm_admitted{0};
  run_together([&](int) {
    for (int i = 0; i < 100; ++i) {
      auto a = reserve(backend, "key_rpm", "rpm", rpm, 1'000, 1, 0);
      if (auto* res = std::get_if<Reservation>(&a)) {
        rpm_admitted.fetch_add(1);
        res->settle(1, 0);
      }
      auto b = reserve(backend, "key_tpm", "tpm", tpm, 1'000, 7, 0);
      if (auto* res = std::get_if<Reservation>(&b)) {
        tpm_admitted.fetch_add(1);
        res->settle(7, 0);
      }
    }
  });
  EXPECT_EQ(rpm_admitted.load(), 500);
  EXPECT_EQ(tpm_admitted.load(), 142);
  EXPECT_EQ(backend.spend("key_tpm", 1'000).window_tokens, 994);
}

TEST(LimitsConcurrencyTest, KeysDoNotShareLimits) {
  InMemoryLimitBackend backend;
  KeyLimits limits;
  limits.requests_per_minute = 50;
  constexpr int kKeys = 8;
  std::array<std::atomic<int64_t>, kKeys> admitted{};
  run_together([&](int t) {
    for (int i = 0; i < 100; ++i) {
      const int k = (t + i) % kKeys;
      const std::string id = "key_" + std::to_string(k);
      auto r = reserve(backend, id, id, limits, 0, 1, 0);
      if (auto* res = std::get_if<Reservation>(&r)) {
        admitted[static_cast<std::size_t>(k)].fetch_add(1);
        res->settle(1, 0);
      }
    }
  });
  for (int k = 0; k < kKeys; ++k) EXPECT_EQ(admitted[static_cast<std::size_t>(k)].load(), 50) << k;
}

}  // namespace
}  // namespace triage::control

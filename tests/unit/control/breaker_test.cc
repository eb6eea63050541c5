#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "control/circuit_breaker.h"

namespace triage::control {
namespace {

struct Recorded {
  std::string from, to, reason;
  int64_t at_ms;
  int64_t cool_down_ms;
};

class BreakerTest : public ::testing::Test {
 protected:
  BreakerTest() { options_.failure_rate = 0; }  // most tests look at consecutive failures

  CircuitBreaker& make() {
    breaker_ = std::make_unique<CircuitBreaker>(
        "gpt-4o@east", options_, clock_, [this](const BreakerTransition& t) {
          EXPECT_EQ(t.breaker, "gpt-4o@east");
          transitions_.push_back(
              {std::string(breaker_state_name(t.from)), std::string(breaker_state_name(t.to)),
               std::string(breaker_reason_name(t.reason)), t.at_ms, t.cool_down_ms});
        });
    return *breaker_;
  }
  void fail(CircuitBreaker& b, int n = 1) {
    for (int i = 0; i < n; ++i) {
      const BreakerPermit p = b.try_acquire();
      ASSERT_TRUE(p.allowed);
      b.on_failure(p);
    }
  }
  void succeed(CircuitBreaker& b, int n = 1) {
    for (int i = 0; i < n; ++i) {
      const BreakerPermit p = b.try_acquire();
      ASSERT_TRUE(p.allowed);
      b.on_success(p);
    }
  }

  BreakerOptions options_;
  ManualWallClock clock_{1'000'000};
  std::unique_ptr<CircuitBreaker> breaker_;
  std::vector<Recorded> transitions_;
};

TEST_F(BreakerTest, OpensOnConsecutiveFailuresAndASuccessResetsTheCount) {
  CircuitBreaker& b = make();
  fail(b, 4);
  succeed(b);
  fail(b, 4);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  fail(b);
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  ASSERT_EQ(transitions_.size(), 1u);
  EXPECT_EQ(transitions_[0].from, "closed");
  EXPECT_EQ(transitions_[0].to, "open");
  EXPECT_EQ(transitions_[0].reason, "consecutive_failures");
  EXPECT_EQ(transitions_[0].cool_down_ms, 5'000);
  EXPECT_EQ(b.opens(), 1);
}

TEST_F(BreakerTest, OpenFailsFastUntilTheCoolDownThenLetsOneProbeThrough) {
  CircuitBreaker& b = make();
  fail(b, 5);
  clock_.advance_ms(1'000);
  BreakerPermit p = b.try_acquire();
  EXPECT_FALSE(p.allowed);
  EXPECT_EQ(p.retry_after_ms, 4'000);
  EXPECT_EQ(b.retry_after_ms(), 4'000);
  EXPECT_FALSE(b.would_allow());
  EXPECT_FALSE(b.probe_due());

  clock_.advance_ms(4'000);
  EXPECT_TRUE(b.would_allow());
  EXPECT_TRUE(b.probe_due());
  const BreakerPermit probe = b.try_acquire();
  ASSERT_TRUE(probe.allowed);
  EXPECT_TRUE(probe.probe);
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  const BreakerPermit second = b.try_acquire();
  EXPECT_FALSE(second.allowed);  // one probe at a time
  EXPECT_EQ(second.retry_after_ms, 0);
  EXPECT_FALSE(b.would_allow());

  b.on_success(probe);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  ASSERT_EQ(transitions_.size(), 3u);
  EXPECT_EQ(transitions_[1].to, "half_open");
  EXPECT_EQ(transitions_[1].reason, "cool_down_elapsed");
  EXPECT_EQ(transitions_[2].to, "closed");
  EXPECT_EQ(transitions_[2].reason, "probe_succeeded");
  EXPECT_EQ(transitions_[2].at_ms, 1'005'000);
}

TEST_F(BreakerTest, AFailedProbeReopensWithADoubledCoolDownUpToTheCap) {
  options_.max_cool_down_ms = 30'000;
  CircuitBreaker& b = make();
  fail(b, 5);
  const std::vector<int64_t> expected = {10'000, 20'000, 30'000, 30'000};
  int64_t cool_down = 5'000;
  for (int64_t next : expected) {
    clock_.advance_ms(cool_down);
    const BreakerPermit probe = b.try_acquire();
    ASSERT_TRUE(probe.probe);
    b.on_failure(probe);
    EXPECT_EQ(b.state(), BreakerState::kOpen);
    EXPECT_EQ(transitions_.back().reason, "probe_failed");
    EXPECT_EQ(transitions_.back().cool_down_ms, next);
    clock_.advance_ms(next - 1);
    EXPECT_FALSE(b.try_acquire().allowed);
    cool_down = 1;
  }
}

TEST_F(BreakerTest, FlappingGrowsTheCoolDownAndAHealthySpellResetsIt) {
  CircuitBreaker& b = make();
  fail(b, 5);
  clock_.advance_ms(5'000);
  const BreakerPermit probe = b.try_acquire();
  b.on_success(probe);
  fail(b, 5);  // trips again within one window of closing
  EXPECT_EQ(transitions_.back().cool_down_ms, 10'000);
  clock_.advance_ms(10'000);
  b.on_success(b.try_acquire());
  clock_.advance_ms(options_.window_ms);  // healthy for a whole window
  fail(b, 5);
  EXPECT_EQ(transitions_.back().cool_down_ms, 5'000);
}

TEST_F(BreakerTest, OpensOnFailureRateOnlyWithEnoughCalls) {
  options_.consecutive_failures = 0;
  options_.failure_rate = 0.5;
  options_.min_calls = 20;
  CircuitBreaker& b = make();
  for (int i = 0; i < 9; ++i) {
    succeed(b);
    fail(b);
  }
  succeed(b);  // 19 calls, 9 failures
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  fail(b);  // 20 calls, 10 failures: 50%
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(transitions_.back().reason, "failure_rate");
}

TEST_F(BreakerTest, FailuresOlderThanTheWindowDoNotCount) {
  options_.consecutive_failures = 0;
  options_.failure_rate = 0.5;
  options_.min_calls = 10;
  CircuitBreaker& b = make();
  for (int i = 0; i < 9; ++i) fail(b);
  clock_.advance_ms(options_.window_ms + 1'000);
  succeed(b, 9);
  fail(b);  // 10 calls in the window, 1 failure
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, LateAnswersToCallsAdmittedBeforeTheTripDoNotMoveTheState) {
  CircuitBreaker& b = make();
  const BreakerPermit early = b.try_acquire();
  const BreakerPermit early2 = b.try_acquire();
  fail(b, 5);
  b.on_success(early);  // arrives while open
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  clock_.advance_ms(5'000);
  const BreakerPermit probe = b.try_acquire();
  ASSERT_TRUE(probe.probe);
  b.on_failure(early2);  // a stale failure does not re-open a half-open circuit
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  b.on_success(probe);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, AProbeOfAnEarlierEpisodeIsIgnored) {
  options_.half_open_probes = 2;
  CircuitBreaker& b = make();
  fail(b, 5);
  clock_.advance_ms(5'000);
  const BreakerPermit p1 = b.try_acquire();
  const BreakerPermit p2 = b.try_acquire();
  ASSERT_TRUE(p1.probe && p2.probe);
  b.on_failure(p1);  // re-opens
  b.on_success(p2);  // belongs to the episode that just ended
  EXPECT_EQ(b.state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, ANeutralOutcomeFreesTheProbeSlotAndBreakerCallDoesItOnItsOwn) {
  CircuitBreaker& b = make();
  fail(b, 5);
  clock_.advance_ms(5'000);
  {
    BreakerCall call(b);
    ASSERT_TRUE(call.allowed());
    EXPECT_TRUE(call.permit().probe);
    EXPECT_FALSE(b.try_acquire().allowed);
  }  // dropped without an outcome: neutral
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  BreakerCall again(b);
  ASSERT_TRUE(again.allowed());
  again.succeeded();
  again.failed();  // a second outcome is ignored
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, NamesForMetrics) {
  EXPECT_EQ(breaker_state_name(BreakerState::kClosed), "closed");
  EXPECT_EQ(breaker_state_name(BreakerState::kOpen), "open");
  EXPECT_EQ(breaker_state_name(BreakerState::kHalfOpen), "half_open");
}

TEST_F(BreakerTest, ConcurrentFailuresTripExactlyOnce) {
  CircuitBreaker& b = make();
  std::vector<std::thread> threads;
  std::atomic<int> allowed{0};
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        const BreakerPermit p = b.try_acquire();
        if (!p.allowed) continue;
        allowed.fetch_add(1);
        b.on_failure(p);
      }
    });
  }
  for (auto& t : threads) t.join();
  // The clock does not move: once open, the circuit stays open, every later call fails fast and
  // the failures of calls admitted just before the trip do not trip it again.
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(b.opens(), 1);
  EXPECT_EQ(transitions_.size(), 1u);
  EXPECT_GE(allowed.load(), 5);
  EXPECT_LT(allowed.load(), 100);
}

TEST_F(BreakerTest, ConcurrentHalfOpenAdmitsExactlyTheProbeBudget) {
  options_.half_open_probes = 2;
  CircuitBreaker& b = make();
  fail(b, 5);
  clock_.advance_ms(5'000);
  std::atomic<int> probes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      if (b.try_acquire().allowed) probes.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(probes.load(), 2);
}

TEST_F(BreakerTest, SuccessesOnManyThreadsKeepItClosed) {
  CircuitBreaker& b = make();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) b.on_success(b.try_acquire());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  EXPECT_TRUE(transitions_.empty());
}

}  // namespace
}  // namespace triage::control

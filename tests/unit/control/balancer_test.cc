#include "control/balancer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

namespace triage::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Balancer::Call picked(std::variant<Balancer::Call, AllOpen>&& r) {
  if (!std::holds_alternative<Balancer::Call>(r)) {
    ADD_FAILURE() << "all open";
    std::abort();
  }
  return std::get<Balancer::Call>(std::move(r));
}

class BalancerTest : public ::testing::Test {
 protected:
  Balancer& make(std::vector<std::string> names) {
    balancer_ = std::make_unique<Balancer>("gpt-4o", std::move(names), options_, clock_, rng_);
    return *balancer_;
  }
  // Trips deployment `index` by failing every call that lands on it. A failing deployment
  // soon looks slow and stops being picked, so calls to the others are held in flight (which
  // makes them dearer) until the failing one is picked again; then they are released.
  void trip(Balancer& b, std::size_t index) {
    std::vector<Balancer::Call> held;
    for (int i = 0; i < 10'000 && b.breaker(index).state() != BreakerState::kOpen; ++i) {
      Balancer::Call c = picked(b.pick());
      if (c.index() == index) {
        c.failed();
      } else {
        held.push_back(std::move(c));
      }
    }
    ASSERT_EQ(b.breaker(index).state(), BreakerState::kOpen);
  }

  BalancerOptions options_;
  ManualWallClock clock_{1'000'000};
  SeededRandom rng_{2024};
  std::unique_ptr<Balancer> balancer_;
};

TEST_F(BalancerTest, ASlowDeploymentGetsMeasurablyLessTraffic) {
  Balancer& b = make({"east", "west", "slow"});
  const std::vector<int64_t> latency = {100, 100, 400};
  std::multimap<int64_t, Balancer::Call> pending;  // completion time -> call
  std::vector<int> counts(3, 0);
  const int64_t start = clock_.now_ms();
  for (int i = 0; i < 3000; ++i) {  // one request every 10 ms: ~15 in flight
    const int64_t arrival = start + i * 10;
    while (!pending.empty() && pending.begin()->first <= arrival) {
      auto done = pending.extract(pending.begin());
      clock_.advance_ms(done.key() - clock_.now_ms());
      done.mapped().succeeded();
    }
    clock_.advance_ms(arrival - clock_.now_ms());
    Balancer::Call call = picked(b.pick());
    ++counts[call.index()];
    pending.emplace(arrival + latency[call.index()], std::move(call));
  }
  EXPECT_LT(counts[2], 3000 * 8 / 100) << counts[0] << " " << counts[1] << " " << counts[2];
  EXPECT_GT(counts[0], 3000 * 40 / 100);
  EXPECT_GT(counts[1], 3000 * 40 / 100);
  EXPECT_NEAR(b.latency_ms(2), 400, 1);
  EXPECT_NEAR(b.latency_ms(0), 100, 1);
}

TEST_F(BalancerTest, IdenticalDeploymentsShareEvenly) {
  Balancer& b = make({"a", "b", "c", "d"});
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 4000; ++i) {
    Balancer::Call call = picked(b.pick());
    ++counts[call.index()];
    clock_.advance_ms(50);
    call.succeeded();
  }
  for (int c : counts) {
    EXPECT_GT(c, 800);
    EXPECT_LT(c, 1200);
  }
}

TEST_F(BalancerTest, InFlightCallsSpreadTheLoad) {
  Balancer& b = make({"a", "b"});
  std::vector<Balancer::Call> held;
  for (int i = 0; i < 10; ++i) held.push_back(picked(b.pick()));
  for (const auto& s : b.stats()) EXPECT_EQ(s.in_flight, 5) << s.name;
  held.clear();  // dropped without an outcome: released, nothing recorded
  for (const auto& s : b.stats()) {
    EXPECT_EQ(s.in_flight, 0);
    EXPECT_EQ(s.latency_ms, 1000);  // still the prior
    EXPECT_EQ(s.picks, 5);
  }
}

TEST_F(BalancerTest, AnOpenDeploymentGetsNoneUntilItsProbe) {
  Balancer& b = make({"a", "b", "c"});
  trip(b, 2);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 1000; ++i) {
    Balancer::Call call = picked(b.pick());
    ++counts[call.index()];
    clock_.advance_ms(1);  // 1 s in all: within the 5 s cool-down
    call.succeeded();
  }
  EXPECT_EQ(counts[2], 0);
  EXPECT_EQ(counts[0] + counts[1], 1000);

  clock_.advance_ms(options_.breaker.cool_down_ms);
  Balancer::Call probe = picked(b.pick());
  EXPECT_EQ(probe.deployment(), "c");  // a probe goes first once it is due
  EXPECT_TRUE(probe.probe());
  Balancer::Call other = picked(b.pick());  // c's probe slot is taken
  EXPECT_NE(other.index(), 2u);
  probe.succeeded();
  EXPECT_EQ(b.breaker(2).state(), BreakerState::kClosed);
}

TEST_F(BalancerTest, AllOpenSaysSoWithRetryAfterAndWithoutTheInside) {
  Balancer& b = make({"us-east-2-key-b"});
  trip(b, 0);
  auto r = b.pick();
  ASSERT_TRUE(std::holds_alternative<AllOpen>(r));
  const AllOpen& all = std::get<AllOpen>(r);
  EXPECT_EQ(all.model, "gpt-4o");
  EXPECT_EQ(all.retry_after_ms, 5'000);
  const Error e = all_open_error(all);
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_THAT(e.message, HasSubstr("'gpt-4o' is temporarily unavailable"));
  EXPECT_THAT(e.message, HasSubstr("retry after 5 s"));
  EXPECT_THAT(e.message, Not(HasSubstr("us-east")));
}

TEST_F(BalancerTest, AvoidIsHonouredWhileAnotherDeploymentCanServe) {
  Balancer& b = make({"a", "b"});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(picked(b.pick(DeploymentSet::of(0))).index(), 1u);
  trip(b, 1);
  EXPECT_EQ(picked(b.pick(DeploymentSet::of(0))).index(), 0u);
}

TEST_F(BalancerTest, SeveralAvoidedDeploymentsLeaveTheRestAndAllAvoidedIsNoBar) {
  Balancer& b = make({"a", "b", "c"});
  DeploymentSet avoid = DeploymentSet::of(0);
  avoid.add(2);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(picked(b.pick(avoid)).index(), 1u);
  avoid.add(1);  // every deployment avoided: P2C among all of them again
  std::set<std::size_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(picked(b.pick(avoid)).index());
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(BalancerTest, AFailureCountsAsSlowNotFast) {
  Balancer& b = make({"a"});
  Balancer::Call first = picked(b.pick());
  clock_.advance_ms(100);
  first.succeeded();
  EXPECT_DOUBLE_EQ(b.latency_ms(0), 100);  // the first sample replaces the prior
  Balancer::Call fails_fast = picked(b.pick());
  clock_.advance_ms(1);
  fails_fast.failed();
  EXPECT_GT(b.latency_ms(0), 100);  // recorded as 2 x the average, not 1 ms
  EXPECT_EQ(b.breaker(0).state(), BreakerState::kClosed);
}

TEST_F(BalancerTest, ExplicitLatencyAndNeutralOutcomes) {
  Balancer& b = make({"a"});
  Balancer::Call streamed = picked(b.pick());
  clock_.advance_ms(5'000);
  streamed.succeeded_after(300);  // time to first byte, not the whole stream
  EXPECT_DOUBLE_EQ(b.latency_ms(0), 300);
  Balancer::Call cancelled = picked(b.pick());
  clock_.advance_ms(10);
  cancelled.neutral();
  cancelled.succeeded();  // ignored: one outcome per call
  EXPECT_DOUBLE_EQ(b.latency_ms(0), 300);
  EXPECT_EQ(b.stats()[0].in_flight, 0);
}

TEST_F(BalancerTest, ASlowSpellIsForgivenAfterIdleTime) {
  Balancer& b = make({"a", "b"});
  Balancer::Call ca = picked(b.pick(DeploymentSet::of(1)));
  clock_.advance_ms(1'000);
  ca.succeeded();  // a: 1000 ms
  Balancer::Call cb = picked(b.pick(DeploymentSet::of(0)));
  clock_.advance_ms(100);
  cb.succeeded();  // b: 100 ms
  Balancer::Call h1 = picked(b.pick());
  Balancer::Call h2 = picked(b.pick());
  EXPECT_EQ(h1.index(), 1u);
  EXPECT_EQ(h2.index(), 1u);  // 100 x 2 in flight still beats 1000
  clock_.advance_ms(5 * options_.idle_decay_ms);
  EXPECT_EQ(picked(b.pick()).index(), 0u);  // a now counts as ~106 ms against b's 300
}

TEST_F(BalancerTest, RejectsBadDeploymentLists) {
  EXPECT_THROW(make({}), std::invalid_argument);
  EXPECT_THROW(make({"a", "a"}), std::invalid_argument);
}

TEST_F(BalancerTest, ConcurrentPicksBalanceTheirBooks) {
  Balancer& b = make({"a", "b", "c"});
  std::vector<std::thread> threads;
  std::atomic<int> all_open{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto r = b.pick();
        if (!std::holds_alternative<Balancer::Call>(r)) {
          all_open.fetch_add(1);
          continue;
        }
        Balancer::Call call = std::get<Balancer::Call>(std::move(r));
        if ((i + t) % 3 == 0) {
          call.succeeded_after(50 + t);
        } else if ((i + t) % 3 == 1) {
          call.succeeded();
        }  // else dropped: neutral
      }
    });
  }
  for (auto& th : threads) th.join();
  int64_t picks = 0;
  for (const auto& s : b.stats()) {
    EXPECT_EQ(s.in_flight, 0) << s.name;
    EXPECT_EQ(s.state, BreakerState::kClosed);
    picks += s.picks;
  }
  EXPECT_EQ(all_open.load(), 0);
  EXPECT_EQ(picks, 16'000);
}

}  // namespace
}  // namespace triage::control

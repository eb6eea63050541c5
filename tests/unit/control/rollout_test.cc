// The progressive rollout's state machine (control/rollout.h) with injected time and stats.
#include "control/rollout.h"

#include <gtest/gtest.h>

namespace triage::control {
namespace {

RolloutSpec spec() {
  RolloutSpec s;
  s.candidate = "canary";
  s.steps = {5, 50, 100};
  s.hold_ms = 10'000;
  s.min_requests = 20;
  s.gates.max_success_drop = 0.05;
  s.gates.max_p95_ratio = 1.5;
  s.gates.max_cost_ratio = 1.2;
  s.gates.min_agreement = 0.8;
  return s;
}

WindowStats stats(int64_t requests, double success, double p95_ms, double cost_per_request) {
  WindowStats w;
  w.requests = requests;
  w.ok = static_cast<int64_t>(success * static_cast<double>(requests) + 0.5);
  w.p95_latency_ms = p95_ms;
  w.cost_usd = cost_per_request * static_cast<double>(requests);
  return w;
}

WindowStats agreement(int64_t compared, int64_t agreed) {
  WindowStats w;
  w.compared = compared;
  w.agreed = agreed;
  return w;
}

RolloutInput good(int64_t candidate_requests = 30) {
  return RolloutInput{stats(candidate_requests, 1.0, 100, 0.001), stats(500, 0.99, 100, 0.001),
                      agreement(candidate_requests, candidate_requests)};
}

TEST(Rollout, PendingUntilStartedThenRunsTheFirstStep) {
  Rollout r(spec());
  EXPECT_EQ(r.state(), RolloutState::kPending);
  EXPECT_FALSE(r.percent().has_value());
  EXPECT_FALSE(r.evaluate(0, good()).has_value());  // a pending rollout does nothing
  const RolloutEvent e = r.start(1000, "");
  EXPECT_EQ(e.kind, "started");
  EXPECT_EQ(r.state(), RolloutState::kRunning);
  EXPECT_EQ(r.status().step, 0);
  EXPECT_DOUBLE_EQ(*r.percent(), 5);
}

TEST(Rollout, AdvancesOnlyAfterTheHoldWithEnoughRequests) {
  Rollout r(spec());
  r.start(0, "");
  EXPECT_FALSE(r.evaluate(9'999, good()).has_value()) << "hold not over";
  EXPECT_FALSE(r.evaluate(20'000, good(19)).has_value()) << "19 < min_requests";
  EXPECT_EQ(r.status().step, 0);
  std::optional<RolloutEvent> e = r.evaluate(20'000, good(20));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, "advanced");
  EXPECT_EQ(e->step, 1);
  EXPECT_DOUBLE_EQ(e->percent, 50);
  // The next step's hold starts at the advance.
  EXPECT_FALSE(r.evaluate(29'999, good()).has_value());
  e = r.evaluate(30'000, good());
  ASSERT_TRUE(e.has_value());
  EXPECT_DOUBLE_EQ(*r.percent(), 100);
  // 100% held for the hold: promoted (the others have no traffic: the baseline serves).
  RolloutInput at_full = good();
  at_full.others = {};
  EXPECT_FALSE(r.evaluate(39'999, at_full).has_value());
  e = r.evaluate(40'000, at_full);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, "promoted");
  EXPECT_EQ(r.state(), RolloutState::kPromoted);
  EXPECT_DOUBLE_EQ(*r.percent(), 100);
}

TEST(Rollout, RollsBackAtOnceAtTheFailingStepNamingTheGate) {
  Rollout r(spec());
  r.start(0, "");
  ASSERT_TRUE(r.evaluate(10'000, good()).has_value());  // step 2 (50%)
  RolloutInput slow = good();
  slow.candidate.p95_latency_ms = 412;
  slow.others.p95_latency_ms = 180;
  const std::optional<RolloutEvent> e = r.evaluate(10'500, slow);  // before the hold is over
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, "rolled_back");
  EXPECT_EQ(e->step, 1);
  EXPECT_DOUBLE_EQ(e->percent, 0);
  EXPECT_EQ(r.state(), RolloutState::kRolledBack);
  EXPECT_DOUBLE_EQ(*r.percent(), 0);
  EXPECT_EQ(e->reason, "step 2 (50%): p95 412 ms > 1.5 x 180 ms");
  EXPECT_FALSE(r.evaluate(60'000, good()).has_value()) << "rolled back stays rolled back";
}

TEST(Rollout, EachGateFailsOnItsOwn) {
  struct Case {
    const char* gate;
    RolloutInput in;
    const char* reason;
  };
  RolloutInput errors = good();
  errors.candidate = stats(30, 0.5, 100, 0.001);
  RolloutInput costly = good();
  costly.candidate = stats(30, 1.0, 100, 0.002);
  RolloutInput disagrees = good();
  disagrees.candidate_agreement = agreement(30, 15);
  const Case cases[] = {
      {"success", errors, "step 1 (5%): success 50.0% < 99.0% - 5.0 pts"},
      {"cost", costly, "step 1 (5%): cost $0.002/request > 1.2 x $0.001"},
      {"agreement", disagrees, "step 1 (5%): agreement 50.0% < 80.0% (15 of 30 compared)"},
  };
  for (const Case& c : cases) {
    Rollout r(spec());
    r.start(0, "");
    const std::optional<RolloutEvent> e = r.evaluate(1, c.in);
    ASSERT_TRUE(e.has_value()) << c.gate;
    EXPECT_EQ(e->kind, "rolled_back") << c.gate;
    EXPECT_EQ(e->reason, c.reason) << c.gate;
  }
}

TEST(Rollout, NoGateCountsBeforeMinRequestsAndAgreementIsSkippedWithoutComparisons) {
  Rollout r(spec());
  r.start(0, "");
  RolloutInput few = good(5);
  few.candidate = stats(5, 0.0, 1000, 1.0);  // terrible, but only 5 requests
  EXPECT_FALSE(r.evaluate(1, few).has_value());
  EXPECT_EQ(r.state(), RolloutState::kRunning);
  RolloutInput no_shadow = good();
  no_shadow.candidate_agreement = {};
  const std::vector<GateCheck> gates = r.check_gates(no_shadow);
  ASSERT_EQ(gates.size(), 4u);
  EXPECT_EQ(gates[3].gate, "agreement");
  EXPECT_EQ(gates[3].status, "skipped");
  EXPECT_EQ(r.check_gates(few)[0].status, "waiting");
  // Skipped does not block: the step advances.
  EXPECT_TRUE(r.evaluate(10'000, no_shadow).has_value());
  EXPECT_EQ(r.status().step, 1);
}

TEST(Rollout, PauseHoldsTheStepResumeRestartsItsHoldAbortGoesToZero) {
  Rollout r(spec());
  r.start(0, "");
  const auto paused = r.pause(5'000);
  ASSERT_TRUE(std::holds_alternative<RolloutEvent>(paused));
  EXPECT_EQ(r.state(), RolloutState::kPaused);
  EXPECT_DOUBLE_EQ(*r.percent(), 5);
  EXPECT_FALSE(r.evaluate(50'000, good()).has_value()) << "a paused rollout does not advance";
  EXPECT_TRUE(std::holds_alternative<std::string>(r.pause(50'000)));
  ASSERT_TRUE(std::holds_alternative<RolloutEvent>(r.resume(50'000)));
  EXPECT_FALSE(r.evaluate(59'999, good()).has_value()) << "the hold starts again at resume";
  EXPECT_TRUE(r.evaluate(60'000, good()).has_value());
  EXPECT_TRUE(std::holds_alternative<std::string>(r.resume(60'000)));
  const auto aborted = r.abort(61'000, "");
  ASSERT_TRUE(std::holds_alternative<RolloutEvent>(aborted));
  EXPECT_EQ(r.state(), RolloutState::kAborted);
  EXPECT_DOUBLE_EQ(*r.percent(), 0);
  EXPECT_TRUE(std::holds_alternative<std::string>(r.abort(62'000, "")));
  r.start(70'000, "again");
  EXPECT_EQ(r.state(), RolloutState::kRunning);
  EXPECT_EQ(r.status().step, 0);
}

TEST(Rollout, RestoreKeepsStepAndBaselineAndRestartsTheHold) {
  Rollout before(spec());
  before.start(0, "");
  ASSERT_TRUE(before.evaluate(10'000, good()).has_value());
  const RolloutStatus saved = before.status();
  EXPECT_EQ(saved.baseline.requests, 500);

  Rollout after(spec());
  const RolloutEvent e = after.restore(saved, 100'000);
  EXPECT_EQ(e.kind, "restored");
  EXPECT_EQ(after.state(), RolloutState::kRunning);
  EXPECT_EQ(after.status().step, 1);
  EXPECT_DOUBLE_EQ(*after.percent(), 50);
  RolloutInput at_full = good();
  at_full.others = {};
  EXPECT_FALSE(after.evaluate(109'999, at_full).has_value());
  ASSERT_TRUE(after.evaluate(110'000, at_full).has_value());
  EXPECT_EQ(after.status().step, 2);
  // The restored baseline still judges the candidate at 100%.
  RolloutInput slow = at_full;
  slow.candidate.p95_latency_ms = 1000;
  const std::optional<RolloutEvent> back = after.evaluate(110'001, slow);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->kind, "rolled_back");
}

TEST(Rollout, FingerprintChangesWithAnyField) {
  const RolloutSpec a = spec();
  RolloutSpec b = spec();
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  b.steps.back() = 99;
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  b = spec();
  b.gates.min_agreement.reset();
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(rollout_state_from_name("rolled_back"), RolloutState::kRolledBack);
  EXPECT_FALSE(rollout_state_from_name("bogus").has_value());
}

}  // namespace
}  // namespace triage::control

// The SLO controller's decisions with time passed in (docs/slo.md "The controller"): toward
// on a breach, never faster than the hold, never past `toward` or the range, back after a
// recovery with margin held for hold_ms, nothing without enough requests.
#include "control/slo_policy.h"

#include <gtest/gtest.h>

namespace triage::control {
namespace {

constexpr int64_t kHoldMs = 10'000;

SloPolicy policy() {
  SloPolicy p;
  p.target = 0.9;
  p.margin = 0.03;
  p.min_requests = 50;
  p.hold_ms = kHoldMs;
  p.toward = 90;
  p.step = 40;
  return p;
}

WindowStats window(int64_t requests, double success) {
  WindowStats w;
  w.requests = requests;
  w.ok = static_cast<int64_t>(success * static_cast<double>(requests) + 0.5);
  return w;
}

KnobView knob(double value) { return KnobView{value, 10, 0, 100, 0}; }

TEST(SloPolicy, BreachMovesOneStepTowardAndRecordsTheMove) {
  SloPolicyState st;
  const SloDecision d = decide_slo(policy(), window(100, 0.8), knob(10), st, 1'000);
  EXPECT_EQ(d.verdict, SloVerdict::kBreached);
  EXPECT_EQ(d.move, SloDecision::Move::kToward);
  EXPECT_DOUBLE_EQ(d.value, 50);
  EXPECT_EQ(st.last_move_ms, 1'000);
}

TEST(SloPolicy, NeverMovesTwiceWithinTheHold) {
  SloPolicyState st;
  ASSERT_EQ(decide_slo(policy(), window(100, 0.8), knob(10), st, 1'000).move,
            SloDecision::Move::kToward);
  const SloDecision soon = decide_slo(policy(), window(100, 0.5), knob(50), st, 1'000 + kHoldMs - 1);
  EXPECT_EQ(soon.move, SloDecision::Move::kNone);
  EXPECT_EQ(soon.held_by, "hold");
  const SloDecision later = decide_slo(policy(), window(100, 0.5), knob(50), st, 1'000 + kHoldMs);
  EXPECT_EQ(later.move, SloDecision::Move::kToward);
  EXPECT_DOUBLE_EQ(later.value, 90);
}

TEST(SloPolicy, NeverPastTowardOrTheRange) {
  SloPolicyState st;
  // 70 + 40 would be 110: stops at toward (90).
  EXPECT_DOUBLE_EQ(decide_slo(policy(), window(100, 0.5), knob(70), st, 0).value, 90);
  st = {};
  const SloDecision at = decide_slo(policy(), window(100, 0.5), knob(90), st, 0);
  EXPECT_EQ(at.move, SloDecision::Move::kNone);
  EXPECT_EQ(at.held_by, "at_limit");
  EXPECT_FALSE(st.last_move_ms);
  // A toward outside the range is clamped to it.
  SloPolicy wide = policy();
  wide.toward = 500;
  st = {};
  EXPECT_DOUBLE_EQ(decide_slo(wide, window(100, 0.5), knob(80), st, 0).value, 100);
  EXPECT_DOUBLE_EQ(step_toward(95, 500, 40, 0, 100, 0), 100);
  EXPECT_DOUBLE_EQ(step_toward(5, -10, 40, 0, 100, 0), 0);
}

TEST(SloPolicy, MovesBackOnlyAfterHoldingAboveTargetPlusMargin) {
  SloPolicyState st;
  st.last_move_ms = 0;
  // 0.92 meets the target but not target + margin (0.93): no recovery clock.
  SloDecision d = decide_slo(policy(), window(100, 0.92), knob(90), st, 20'000);
  EXPECT_EQ(d.verdict, SloVerdict::kMet);
  EXPECT_EQ(d.move, SloDecision::Move::kNone);
  EXPECT_FALSE(st.above_since_ms);
  // Recovered from 30 s: nothing before 40 s.
  d = decide_slo(policy(), window(100, 0.97), knob(90), st, 30'000);
  EXPECT_EQ(d.verdict, SloVerdict::kRecovered);
  EXPECT_EQ(d.held_by, "hold");
  EXPECT_EQ(decide_slo(policy(), window(100, 0.97), knob(90), st, 39'999).move,
            SloDecision::Move::kNone);
  d = decide_slo(policy(), window(100, 0.97), knob(90), st, 40'000);
  EXPECT_EQ(d.move, SloDecision::Move::kBack);
  EXPECT_DOUBLE_EQ(d.value, 50);
  // The next step back waits a hold again; then stops at the file's value (10).
  EXPECT_EQ(decide_slo(policy(), window(100, 0.97), knob(50), st, 45'000).held_by, "hold");
  d = decide_slo(policy(), window(100, 0.97), knob(50), st, 50'000);
  EXPECT_DOUBLE_EQ(d.value, 10);
  d = decide_slo(policy(), window(100, 0.97), knob(10), st, 90'000);
  EXPECT_EQ(d.move, SloDecision::Move::kNone);
  EXPECT_EQ(d.held_by, "at_file");
}

TEST(SloPolicy, ADipBelowTheMarginRestartsTheRecoveryClock) {
  SloPolicyState st;
  decide_slo(policy(), window(100, 0.97), knob(90), st, 0);
  decide_slo(policy(), window(100, 0.91), knob(90), st, 5'000);  // met, not recovered
  EXPECT_EQ(decide_slo(policy(), window(100, 0.97), knob(90), st, 10'000).held_by, "hold");
  EXPECT_EQ(decide_slo(policy(), window(100, 0.97), knob(90), st, 19'999).move,
            SloDecision::Move::kNone);
  EXPECT_EQ(decide_slo(policy(), window(100, 0.97), knob(90), st, 20'000).move,
            SloDecision::Move::kBack);
}

TEST(SloPolicy, TooFewRequestsIsNoVerdict) {
  SloPolicyState st;
  const SloDecision d = decide_slo(policy(), window(49, 0.0), knob(10), st, 0);
  EXPECT_EQ(d.verdict, SloVerdict::kNoData);
  EXPECT_EQ(d.move, SloDecision::Move::kNone);
  EXPECT_FALSE(st.last_move_ms);
}

TEST(SloPolicy, SteppedKnobsLandOnTheirSteps) {
  // min_agree-like knob: range [1, 5], step 1; a policy step of 1.5 moves one knob step.
  EXPECT_DOUBLE_EQ(step_toward(2, 5, 1.5, 1, 5, 1), 3);
  EXPECT_DOUBLE_EQ(step_toward(2, 5, 0.5, 1, 5, 1), 3);
  EXPECT_DOUBLE_EQ(step_toward(4, 1, 2.5, 1, 5, 1), 2);
  EXPECT_DOUBLE_EQ(step_toward(0.3, 0.0, 0.1, 0, 1, 0), 0.19999999999999998);
}

}  // namespace
}  // namespace triage::control

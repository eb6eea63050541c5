#include "control/outcome_window.h"

#include <gtest/gtest.h>

namespace triage::control {
namespace {

TEST(OutcomeWindow, CountsSuccessCostAndAgreementInsideTheWindow) {
  OutcomeWindow w(10'000, 10);
  w.record(1'000, {true, 5, 0.01, true});
  w.record(2'000, {false, 5, 0.03, false});
  w.record(3'000, {true, 5, 0.02, std::nullopt});
  const WindowStats s = w.stats(3'500);
  EXPECT_EQ(s.requests, 3);
  EXPECT_EQ(s.ok, 2);
  EXPECT_NEAR(s.success_rate(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(s.cost_per_request(), 0.02, 1e-12);
  EXPECT_EQ(s.compared, 2);
  EXPECT_EQ(s.agreed, 1);
}

TEST(OutcomeWindow, OutcomesOlderThanTheWindowFallOut) {
  OutcomeWindow w(10'000, 10);
  w.record(1'000, {false, 5, 0, {}});
  w.record(9'000, {true, 5, 0, {}});
  EXPECT_EQ(w.stats(9'500).requests, 2);
  // At 12 s the slice of 1 s ([1 s, 2 s)) lies before (2 s, 12 s]: gone; 9 s stays.
  const WindowStats later = w.stats(12'000);
  EXPECT_EQ(later.requests, 1);
  EXPECT_EQ(later.ok, 1);
  // A slice reused by the ring after a long gap starts empty.
  w.record(100'000, {true, 5, 0, {}});
  EXPECT_EQ(w.stats(100'000).requests, 1);
}

TEST(OutcomeWindow, P95IsTheUpperEdgeOfTheBinHoldingIt) {
  OutcomeWindow w(60'000, 60);
  for (int i = 0; i < 95; ++i) w.record(1'000, {true, 10.0, 0, {}});
  for (int i = 0; i < 5; ++i) w.record(1'000, {true, 1'000.0, 0, {}});
  const double p95 = w.stats(1'000).p95_latency_ms;
  EXPECT_GE(p95, 10.0);
  EXPECT_LT(p95, 10.0 * 1.16);
  w.record(1'000, {true, 1'000.0, 0, {}});  // now 6 of 101 are slow: p95 is slow
  EXPECT_GE(w.stats(1'000).p95_latency_ms, 1'000.0);
}

TEST(OutcomeWindow, BinsAreMonotoneAndCoverTheRange) {
  EXPECT_EQ(OutcomeWindow::bin_of(0.0), 0);
  EXPECT_EQ(OutcomeWindow::bin_of(1e9), OutcomeWindow::kLatencyBins - 1);
  for (double ms : {0.5, 3.0, 42.0, 777.0, 12'345.0}) {
    const int b = OutcomeWindow::bin_of(ms);
    EXPECT_LE(ms, OutcomeWindow::bin_upper_ms(b) * (1 + 1e-12));
    EXPECT_GT(ms, OutcomeWindow::bin_upper_ms(b - 1));
  }
}

TEST(OutcomeWindow, LateNewsCountsInTheRequestsSliceWhileItIsInTheWindow) {
  OutcomeWindow w(10'000, 10);
  w.record(1'000, {true, 5, 0, {}});
  w.record(1'500, {true, 5, 0, {}});
  w.record(6'000, {true, 5, 0, {}});
  // Negative feedback at 8 s on the request counted at 1.5 s: one success fewer.
  EXPECT_TRUE(w.mark_failed(1'500, 8'000));
  WindowStats s = w.stats(8'000);
  EXPECT_EQ(s.requests, 3);
  EXPECT_EQ(s.ok, 2);
  // A labelled decision for a request of 6 s, recorded where that request was.
  EXPECT_TRUE(w.record_at(6'000, 8'000, {false, 0, 0, {}}));
  EXPECT_EQ(w.stats(8'000).requests, 4);
  // Once the slice has left the window, late news changes nothing.
  EXPECT_FALSE(w.mark_failed(1'000, 12'000));
  EXPECT_FALSE(w.record_at(1'000, 12'000, {true, 0, 0, {}}));
  s = w.stats(12'000);
  EXPECT_EQ(s.requests, 2);
  EXPECT_EQ(s.ok, 1);
  // A slice without successes left has nothing to turn; the future is refused.
  EXPECT_TRUE(w.mark_failed(6'000, 12'000));
  EXPECT_FALSE(w.mark_failed(6'000, 12'000));
  EXPECT_FALSE(w.record_at(13'000, 12'000, {true, 0, 0, {}}));
}

}  // namespace
}  // namespace triage::control

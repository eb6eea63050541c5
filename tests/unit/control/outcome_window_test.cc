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

// Two replicas' windows merged (one's stats over the other's snapshot) equal one window that
// recorded both streams: requests, successes, cost, agreement and p95 (histograms add).
TEST(OutcomeWindowFleet, MergedStatsEqualOneWindowThatRecordedBothStreams) {
  OutcomeWindow a(60'000, 60), b(60'000, 60), both(60'000, 60);
  auto feed = [&](OutcomeWindow& one, int64_t t, const Outcome& o) {
    one.record(t, o);
    both.record(t, o);
  };
  for (int i = 0; i < 90; ++i) {
    const int64_t t = 1'000 + i * 500;
    const std::optional<bool> agrees =
        i % 3 == 0 ? std::optional<bool>(i % 2 == 0) : std::nullopt;
    feed(a, t, {i % 10 != 0, 20.0 + i % 7, 0.001, agrees});
    // b is slower and fails more: the fleet's p95 comes from b's tail.
    feed(b, t + 100, {i % 4 != 0, 400.0 + 10 * (i % 5), 0.004, std::nullopt});
  }
  const int64_t now = 46'000;
  const WindowStats merged = a.stats(now, b.snapshot(now));
  const WindowStats expected = both.stats(now);
  EXPECT_EQ(merged.requests, expected.requests);
  EXPECT_EQ(merged.requests, 180);
  EXPECT_EQ(merged.ok, expected.ok);
  EXPECT_NEAR(merged.cost_usd, expected.cost_usd, 1e-12);
  EXPECT_EQ(merged.compared, expected.compared);
  EXPECT_EQ(merged.agreed, expected.agreed);
  EXPECT_DOUBLE_EQ(merged.p95_latency_ms, expected.p95_latency_ms);
  EXPECT_GT(merged.p95_latency_ms, a.stats(now).p95_latency_ms);  // b's tail counted
  // Later, when part of the window has slid past: still equal (stale slices of b drop out).
  const int64_t later = 80'000;
  EXPECT_EQ(a.stats(later, b.snapshot(now)).requests, both.stats(later).requests);
  EXPECT_LT(both.stats(later).requests, 180);
}

TEST(OutcomeWindowFleet, SnapshotHoldsTheLiveNonEmptySlicesOldestFirst) {
  OutcomeWindow w(10'000, 10);
  w.record(1'500, {true, 5, 0.5, {}});
  w.record(4'200, {false, 5, 0.25, true});
  w.record(4'700, {true, 5, 0.25, {}});
  std::vector<WindowSlice> s = w.snapshot(5'000);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].start_ms, 1'000);
  EXPECT_EQ(s[0].requests, 1);
  EXPECT_EQ(s[1].start_ms, 4'000);
  EXPECT_EQ(s[1].requests, 2);
  EXPECT_EQ(s[1].ok, 1);
  EXPECT_EQ(s[1].compared, 1);
  EXPECT_DOUBLE_EQ(s[1].cost_usd, 0.5);
  EXPECT_EQ(s[1].latency[static_cast<size_t>(OutcomeWindow::bin_of(5))], 2u);
  // Late news changes the published slice.
  EXPECT_TRUE(w.mark_failed(4'700, 6'000));
  EXPECT_EQ(w.snapshot(6'000)[1].ok, 0);
  // At 12 s the slice of 1 s ([1 s, 2 s)) is out of (2 s, 12 s].
  s = w.snapshot(12'000);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].start_ms, 4'000);
}

TEST(OutcomeWindowFleet, OthersSlicesOutsideTheWindowOrMisalignedAreIgnored) {
  OutcomeWindow w(10'000, 10);
  WindowSlice old;
  old.start_ms = 0;
  old.requests = 5;
  WindowSlice misaligned;
  misaligned.start_ms = 20'500;
  misaligned.requests = 7;
  WindowSlice live;
  live.start_ms = 20'000;
  live.requests = 3;
  live.ok = 3;
  EXPECT_EQ(w.stats(21'000, {old, misaligned, live}).requests, 3);
  EXPECT_EQ(w.stats(21'000, {old, misaligned, live}).ok, 3);
}

}  // namespace
}  // namespace triage::control

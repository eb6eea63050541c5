#include "ml/pair_metrics.h"

#include <gtest/gtest.h>

namespace triage::ml {
namespace {

TEST(PairMetrics, PgrIsTheRecoveredShareOfTheGap) {
  EXPECT_NEAR(pgr(0.7, 0.6, 0.8), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(pgr(0.6, 0.6, 0.8), 0.0);
  EXPECT_NEAR(pgr(0.9, 0.6, 0.8), 1.5, 1e-12);
  EXPECT_DOUBLE_EQ(pgr(0.9, 0.6, 0.6), 0.0);  // no gap
}

// Hand-computed: curve (0,0) (0.25,0.5) (0.5,1.0) (1,1).
// Area = 0.25*0.25 + 0.25*0.75 + 0.5*1 = 0.0625 + 0.1875 + 0.5 = 0.75.
TEST(PairMetrics, ApgrIsTheTrapezoidAreaWithEndpoints) {
  std::vector<PgrPoint> pts = {{0.5, 1.0}, {0.25, 0.5}};  // unsorted, endpoints missing
  EXPECT_DOUBLE_EQ(apgr(pts), 0.75);
  auto c = pgr_curve(pts);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_DOUBLE_EQ(c.front().strong_share, 0.0);
  EXPECT_DOUBLE_EQ(c.back().strong_share, 1.0);
  EXPECT_DOUBLE_EQ(c.back().pgr, 1.0);
}

TEST(PairMetrics, RandomRoutingHasApgrOneHalfAndCptEqualToTarget) {
  std::vector<PgrPoint> diag;
  for (int i = 0; i <= 10; ++i) diag.push_back({i / 10.0, i / 10.0});
  EXPECT_NEAR(apgr(diag), 0.5, 1e-12);
  EXPECT_NEAR(*cpt(diag, 0.5), 0.5, 1e-12);
  EXPECT_NEAR(*cpt(diag, 0.8), 0.8, 1e-12);
}

TEST(PairMetrics, CptInterpolatesTheFirstCrossing) {
  // (0,0) (0.25,0.5) (0.5,1.0): PGR 0.8 is reached at 0.25 + 0.3/0.5*0.25 = 0.4.
  std::vector<PgrPoint> pts = {{0.25, 0.5}, {0.5, 1.0}};
  EXPECT_NEAR(*cpt(pts, 0.8), 0.4, 1e-12);
  EXPECT_NEAR(*cpt(pts, 0.5), 0.25, 1e-12);
  EXPECT_NEAR(*cpt(pts, 0.0), 0.0, 1e-12);
  // A curve that overshoots and comes back: the first crossing counts.
  std::vector<PgrPoint> over = {{0.2, 1.2}, {0.6, 0.9}};
  EXPECT_NEAR(*cpt(over, 0.6), 0.1, 1e-12);
  EXPECT_FALSE(cpt(pts, 1.5).has_value());
}

TEST(PairMetrics, RoutingRatesAgainstTheOracle) {
  std::vector<PairRow> rows = {
      {0, 1, true},   // needed, strong: right
      {0, 1, false},  // needed, weak: under-routing
      {1, 1, true},   // not needed, strong: over-routing
      {1, 0, false},  // weak better, weak: right
  };
  auto r = routing_rates(rows);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r.over_routing, 0.25);
  EXPECT_DOUBLE_EQ(r.under_routing, 0.25);
}

TEST(PairMetrics, OracleCurveRisesThenStaysFlatThenFalls) {
  // gains: +1, 0, 0, -1 ; weak quality = (0+1+0+1)/4 = 0.5
  std::vector<PairRow> rows = {{0, 1, false}, {1, 1, false}, {0, 0, false}, {1, 0, false}};
  auto c = oracle_curve(rows);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_DOUBLE_EQ(c[0].strong_share, 0.0);
  EXPECT_DOUBLE_EQ(c[0].quality, 0.5);
  EXPECT_DOUBLE_EQ(c[1].strong_share, 0.25);
  EXPECT_DOUBLE_EQ(c[1].quality, 0.75);
  EXPECT_DOUBLE_EQ(c[2].strong_share, 0.75);
  EXPECT_DOUBLE_EQ(c[2].quality, 0.75);
  EXPECT_DOUBLE_EQ(c[3].strong_share, 1.0);
  EXPECT_DOUBLE_EQ(c[3].quality, 0.5);  // all strong
}

}  // namespace
}  // namespace triage::ml

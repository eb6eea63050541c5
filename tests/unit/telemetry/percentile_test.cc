// The one percentile (nearest rank) and the one counterfactual cost.
#include "telemetry/percentile.h"

#include <gtest/gtest.h>

#include <vector>

#include "config/config.h"
#include "telemetry/counterfactual.h"

namespace triage::telemetry {
namespace {

TEST(Percentile, NearestRankIsAnObservedValue) {
  const std::vector<int64_t> ten = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  // ceil(0.5 * 10) = 5th; a rounded-index definition (round(p * (n - 1))) would give the 6th.
  EXPECT_EQ(percentile(ten, 0.50), 5.0);
  EXPECT_EQ(percentile(ten, 0.95), 10.0);  // ceil(9.5) = 10th
  EXPECT_EQ(percentile(ten, 0.99), 10.0);
  EXPECT_EQ(percentile(ten, 0.0), 1.0);  // rank at least 1
  EXPECT_EQ(percentile(ten, 1.0), 10.0);
  EXPECT_EQ(percentile(std::vector<int64_t>{}, 0.5), 0.0);
  EXPECT_EQ(percentile(std::vector<double>{2.5}, 0.99), 2.5);
}

TEST(Percentile, RankIsExactWhereBinaryFloatingPointIsNot) {
  // 0.95 * 20 is 19.000000000000004 in binary floating point: ceil would say 20.
  EXPECT_EQ(percentile_rank(0.95, 20), 19u);
  EXPECT_EQ(percentile_rank(0.07, 100), 7u);  // 0.07 * 100 = 7.000000000000001
  EXPECT_EQ(percentile_rank(0.99, 100), 99u);
  EXPECT_EQ(percentile_rank(0.99, 101), 100u);
  EXPECT_EQ(percentile_rank(0.5, 1), 1u);
  EXPECT_EQ(percentile_rank(0.5, 3), 2u);
  // The same ranks `triage analyze` computed in SQL before: (n + 1) / 2 and (95n + 99) / 100.
  for (size_t n = 1; n <= 500; ++n) {
    EXPECT_EQ(percentile_rank(0.50, n), (n + 1) / 2) << n;
    EXPECT_EQ(percentile_rank(0.95, n), (95 * n + 99) / 100) << n;
    EXPECT_EQ(percentile_rank(0.99, n), (99 * n + 99) / 100) << n;
  }
}

TEST(Counterfactual, SameTokensAtTheReferencePrices) {
  config::Prices p;
  p.input_per_mtok = 5;
  p.output_per_mtok = 15;
  p.per_call = 0.001;
  EXPECT_DOUBLE_EQ(counterfactual_cost_usd(p, 1'000'000, 2'000'000, 3), 5 + 30 + 0.003);
  // One request: config::cost_usd bit for bit (metrics and report priced through it before).
  for (int64_t in : {0, 1, 17, 812, 123457}) {
    for (int64_t out : {0, 3, 96, 4099}) {
      EXPECT_EQ(counterfactual_cost_usd(p, in, out), config::cost_usd(p, in, out))
          << in << " " << out;
    }
  }
  // A cached-input discount does not apply to the counterfactual.
  p.cached_input_per_mtok = 1;
  EXPECT_DOUBLE_EQ(counterfactual_cost_usd(p, 1'000'000, 0, 1), 5 + 0.001);
  EXPECT_EQ(counterfactual_cost_usd(p, -5, -5, -1), 0.0);
}

}  // namespace
}  // namespace triage::telemetry

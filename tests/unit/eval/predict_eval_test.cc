// The multi-model `triage eval` of a `predict` route (the candidates family) over the
// predictor `triage train multi-router` trained on the same file: complete cases, recorded
// costs, the bar swept over 0.00..1.00, cost_ratio_at_best_quality.
//
// Fixture tests/data/routerbench_missing.csv: 200 rows, models cheap ($0.0001, right on the
// "name the fruit" prompts, wrong on the "prove the" ones), mid ($0.001, always right where
// graded) and pricey ($0.01, always right). Empty score cells: mid on 6 rows, cheap on 3.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <variant>

#include "eval/eval.h"
#include "train/train_multi_router.h"

namespace triage {
namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(TRIAGE_SOURCE_DIR) + "/tests/data/routerbench_missing.csv";

class PredictEvalFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-multi-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    opts_.datasets = {kData};
    opts_.out_path = (dir_ / "router.bin").string();
    opts_.min_own_rows = 10;
    train::train_multi_router(opts_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string config(double bar) {
    std::string y = "store: {type: none}\nmodels:\n";
    const char* names[] = {"cheap", "mid", "pricey"};
    const double prices[] = {0.1, 1.0, 10.0};
    for (int i = 0; i < 3; ++i) {
      y += std::string("  - name: ") + names[i] + "\n    provider: replay\n" +
           "    replay: {dataset: " + kData + ", response_column: " + names[i] + "}\n" +
           "    prices: {input: " + std::to_string(prices[i]) + ", output: " +
           std::to_string(prices[i]) + "}\n";
    }
    y += "routes:\n  - name: default\n    type: predict\n    predictor: router.bin\n"
         "    candidates: [cheap, mid, pricey]\n    bar: " + std::to_string(bar) + "\n";
    const fs::path p = dir_ / "eval.yaml";
    std::ofstream(p, std::ios::trunc) << y;
    return p.string();
  }

  fs::path dir_;
  train::TrainMultiRouterOptions opts_;
};

TEST(CostRatio, LowestCostReachingTheTarget) {
  const std::vector<std::pair<double, double>> pts = {
      {0.2, 0.80}, {0.3, 0.90}, {0.5, 0.95}, {0.4, 0.94}, {0.9, 0.96}};
  EXPECT_DOUBLE_EQ(*eval::cost_ratio_at_quality(pts, 0.94, 1.0), 0.4);
  EXPECT_DOUBLE_EQ(*eval::cost_ratio_at_quality(pts, 0.95, 2.0), 0.25);
  EXPECT_DOUBLE_EQ(*eval::cost_ratio_at_quality(pts, 0.5, 1.0), 0.2);
  EXPECT_FALSE(eval::cost_ratio_at_quality(pts, 0.97, 1.0).has_value());
  EXPECT_FALSE(eval::cost_ratio_at_quality(pts, 0.5, 0.0).has_value());
}

TEST_F(PredictEvalFixture, EvalUsesCompleteCasesRecordedCostsAndTheCostRatio) {
  eval::EvalOptions o;
  o.config_path = config(0.8);
  o.dataset = kData;
  o.sweep = true;
  o.split = "all";  // every row, so the counts below do not depend on the split
  o.progress = false;
  const eval::EvalReport report = eval::evaluate(o);
  // A candidates route on multi-model data: the multi-model evaluator.
  ASSERT_TRUE(std::holds_alternative<eval::MultiEvalResult>(report));
  const eval::MultiEvalResult& r = std::get<eval::MultiEvalResult>(report);
  EXPECT_EQ(r.route_kind, "predict/1");
  EXPECT_EQ(r.knob, "bar");
  EXPECT_EQ(r.candidates, (std::vector<std::string>{"cheap", "mid", "pricey"}));
  EXPECT_EQ(r.n_rows_file, 200);
  EXPECT_EQ(r.n_excluded_missing, 9);  // rows with an empty grade for any model
  EXPECT_EQ(r.n_rows, 191);
  EXPECT_EQ(r.missing_cells_file.at("mid"), 6);
  EXPECT_EQ(r.missing_cells_file.at("cheap"), 3);
  ASSERT_EQ(r.models.size(), 3u);
  // Baselines over the same complete rows, costs from the recorded <model>|cost column.
  EXPECT_EQ(r.models[1].model, "mid");
  EXPECT_DOUBLE_EQ(r.models[1].quality, 1.0);  // not lowered by its missing cells
  EXPECT_NEAR(r.models[1].cost_usd, 191 * 0.001, 1e-12);
  EXPECT_NEAR(r.models[2].cost_usd, 191 * 0.01, 1e-12);
  // best: mid and pricey tie at 1.0; the first in catalog order wins.
  EXPECT_EQ(r.best_model, "mid");
  EXPECT_DOUBLE_EQ(r.best_quality, 1.0);
  // Oracle: cheap where it is right, else mid.
  EXPECT_DOUBLE_EQ(r.oracle.quality, 1.0);
  EXPECT_LT(r.oracle.cost_usd, r.models[1].cost_usd);
  // The sweep: bar 0 sends everything to cheap; the cost ratio is recomputed from the points.
  ASSERT_TRUE(r.swept);
  EXPECT_EQ(r.points.size(), 101u);
  EXPECT_NEAR(r.points.front().cost_usd, 191 * 0.0001, 1e-12);
  EXPECT_DOUBLE_EQ(r.points.front().share.at("cheap"), 1.0);
  std::vector<std::pair<double, double>> cq{{r.operating.cost_usd, r.operating.quality}};
  for (const auto& p : r.points) cq.emplace_back(p.cost_usd, p.quality);
  const auto expect = eval::cost_ratio_at_quality(cq, r.best_quality - 0.01, r.best_cost_usd);
  ASSERT_TRUE(r.cost_ratio_at_best_quality.has_value());
  EXPECT_DOUBLE_EQ(*r.cost_ratio_at_best_quality, *expect);
  // The configured route is perfect here (cheap on fruit, mid on proofs) and cheaper than mid.
  EXPECT_DOUBLE_EQ(r.operating.quality, 1.0);
  EXPECT_LT(*r.cost_ratio_at_best_quality, 1.0);
  EXPECT_DOUBLE_EQ(r.operating.routing.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.operating.routing.over + r.operating.routing.under, 0.0);

  const auto j = eval::eval_multi_json(r);
  EXPECT_EQ(j.at("best_model").as_string(), "mid");
  EXPECT_DOUBLE_EQ(j.at("best_quality").as_double(), 1.0);
  EXPECT_DOUBLE_EQ(j.at("cost_ratio_at_best_quality").as_double(), *expect);
  EXPECT_EQ(j.at("n_excluded_missing").as_int64(), 9);
  const std::string svg = eval::eval_multi_svg(r);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("oracle"), std::string::npos);
}

}  // namespace
}  // namespace triage

// The multi-model `triage eval` of a route that calls several models per query (a cascade
// with an `agreement` check): the cost of a row is the SUM of the recorded costs of every model
// called, its quality the grade of the model whose answer was returned; --sweep visits every
// step of the agreement's min_agree knob; a route without a learned model is evaluated on the
// test part of the default split.
//
// Data (written by the fixture): 40 rows, truth 'B' when i % 4 == 0 else 'A'. cheap ($0.001)
// always says A; peer ($0.002) says A on even rows, B on odd ones; big ($0.01) is always right.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <variant>

#include "datasets/split.h"
#include "eval/eval.h"

namespace triage {
namespace {

namespace fs = std::filesystem;

class MultiCascadeEval : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-multi-cascade-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    data_ = (dir_ / "rb.csv").string();
    std::ofstream d(data_, std::ios::trunc);
    d << "id,prompt";
    for (const char* m : {"cheap", "peer", "big"}) {
      d << "," << m << "|score," << m << "|cost," << m << "|response";
    }
    d << "\n";
    for (int i = 0; i < kRows; ++i) {
      const char truth = i % 4 == 0 ? 'B' : 'A';
      const char peer = i % 2 == 0 ? 'A' : 'B';
      d << "r" << i << ",question " << i << ": A or B?";
      d << "," << (truth == 'A' ? 1 : 0) << ",0.001,A";
      d << "," << (truth == peer ? 1 : 0) << ",0.002," << peer << ")";
      d << ",1,0.01," << truth << "\n";
    }
    config_ = (dir_ / "eval.yaml").string();
    std::string y = "store: {type: none}\nmodels:\n";
    for (const char* m : {"cheap", "peer", "big"}) {
      y += std::string("  - {name: ") + m + ", provider: replay, prices: {input: 1, output: 1}, " +
           "replay: {dataset: " + data_ + ", response_column: " + m + "}}\n";
    }
    y += R"(routes:
  - name: default
    type: cascade
    steps:
      - route: cheap
        checks: [{type: agreement, routes: [peer], min_agree: 1, extract: option}]
      - route: big
)";
    std::ofstream(config_, std::ios::trunc) << y;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // eval::evaluate, which must pick the multi-model evaluator for a cascade on this data.
  static eval::MultiEvalResult evaluate_multi(const eval::EvalOptions& o) {
    const eval::EvalReport report = eval::evaluate(o);
    EXPECT_TRUE(std::holds_alternative<eval::MultiEvalResult>(report));
    return std::get<eval::MultiEvalResult>(report);
  }

  eval::EvalOptions options(const std::string& split) const {
    eval::EvalOptions o;
    o.config_path = config_;
    o.route = "default";
    o.dataset = data_;
    o.split = split;
    o.progress = false;
    return o;
  }

  static constexpr int kRows = 40;
  fs::path dir_;
  std::string data_, config_;
};

TEST_F(MultiCascadeEval, CostIsTheSumOfEveryCallQualityTheReturnedAnswer) {
  eval::EvalOptions o = options("all");
  o.sweep = true;
  const eval::MultiEvalResult r = evaluate_multi(o);
  ASSERT_EQ(r.n_rows, kRows);
  EXPECT_EQ(r.route_kind, "cascade/1");
  // Even rows: cheap and peer agree on A, cheap's answer is kept ($0.003; wrong when i%4==0).
  // Odd rows: peer says B, big answers ($0.013, right).
  const eval::MultiPoint& p = r.operating;
  EXPECT_DOUBLE_EQ(p.quality, 30.0 / kRows);
  EXPECT_NEAR(p.cost_usd, 20 * 0.003 + 20 * 0.013, 1e-12);
  EXPECT_EQ(p.missing_cost, 0);
  EXPECT_DOUBLE_EQ(p.share.at("cheap"), 0.5);
  EXPECT_DOUBLE_EQ(p.share.at("big"), 0.5);
  EXPECT_DOUBLE_EQ(p.calls.at("cheap"), 1.0);
  EXPECT_DOUBLE_EQ(p.calls.at("peer"), 1.0);
  EXPECT_DOUBLE_EQ(p.calls.at("big"), 0.5);

  // The sweep visits min_agree 0, 1, 2 (range [0, n + 1] for one opinion), sorted by cost.
  EXPECT_EQ(r.knob, "min_agree");
  ASSERT_EQ(r.points.size(), 3u);
  EXPECT_DOUBLE_EQ(r.points[0].bar, 0.0);  // cheap alone
  EXPECT_NEAR(r.points[0].cost_usd, kRows * 0.001, 1e-12);
  EXPECT_DOUBLE_EQ(r.points[0].quality, 0.75);
  EXPECT_DOUBLE_EQ(r.points[1].bar, 1.0);
  EXPECT_NEAR(r.points[1].cost_usd, p.cost_usd, 1e-12);
  EXPECT_DOUBLE_EQ(r.points[2].bar, 2.0);  // always escalated, peer never asked
  EXPECT_NEAR(r.points[2].cost_usd, kRows * 0.011, 1e-12);
  EXPECT_DOUBLE_EQ(r.points[2].quality, 1.0);
  EXPECT_EQ(r.points[2].calls.count("peer"), 0u);

  // Only the always-escalate point reaches big's quality - 0.01, at 110% of big's cost.
  EXPECT_EQ(r.best_model, "big");
  ASSERT_TRUE(r.cost_ratio_at_best_quality.has_value());
  EXPECT_NEAR(*r.cost_ratio_at_best_quality, 1.1, 1e-9);
  const auto j = eval::eval_multi_json(r);
  EXPECT_EQ(j.at("knob").as_string(), "min_agree");
  EXPECT_NEAR(j.at("operating").as_object().at("calls_per_row").as_object().at("peer").as_double(),
              1.0, 1e-12);
}

TEST_F(MultiCascadeEval, ARouteWithoutAModelUsesTheTestPartOfTheDefaultSplit) {
  const datasets::SplitRule rule;
  int64_t test_rows = 0;
  for (int i = 0; i < kRows; ++i) {
    const std::string id = std::string("r").append(std::to_string(i));
    test_rows += rule.part(id) == datasets::SplitPart::kTest ? 1 : 0;
  }
  ASSERT_GT(test_rows, 0);
  ASSERT_LT(test_rows, kRows);
  const eval::MultiEvalResult r = evaluate_multi(options("auto"));
  EXPECT_EQ(r.n_rows, test_rows);
  EXPECT_EQ(r.n_excluded_train, kRows - test_rows);
  EXPECT_NE(r.split_applied.find("default split"), std::string::npos) << r.split_applied;
  EXPECT_EQ(evaluate_multi(options("all")).n_rows, kRows);
}

}  // namespace
}  // namespace triage

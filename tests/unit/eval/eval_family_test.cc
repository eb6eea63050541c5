// Which evaluator `triage eval` runs: the route's evaluation family (routes/eval_family.h,
// declared by its kind) and the dataset's format (datasets/eval_data.h). A route kind defined
// here, outside routes/, declares its family in its own code and eval honours it: that is all
// a new kind needs to choose its eval mode.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <variant>

#include "eval/eval.h"
#include "routes/route_table.h"

namespace triage {
namespace {

namespace fs = std::filesystem;
using datasets::DatasetFormat;
using eval::Evaluator;

TEST(EvaluatorFor, FamilyAndDataFormatChooseTheEvaluator) {
  const routes::EvalFamily any = routes::AnyDatasetEval{};
  const routes::EvalFamily pair = routes::WeakStrongEval{"w", "s", {}};
  const routes::EvalFamily candidates = routes::CandidatesEval{{"a", "b"}, nullptr};
  const routes::EvalFamily bands = routes::IntentBandsEval{};
  struct Case {
    const routes::EvalFamily* family;
    DatasetFormat format;
    std::optional<Evaluator> expected;
  };
  const std::vector<Case> table = {
      {&bands, DatasetFormat::kIntentLines, Evaluator::kIntents},
      {&bands, DatasetFormat::kMultiModel, Evaluator::kMultiModel},
      {&bands, DatasetFormat::kGraded, Evaluator::kPairs},
      {&pair, DatasetFormat::kIntentLines, std::nullopt},
      {&pair, DatasetFormat::kMultiModel, Evaluator::kPairs},
      {&pair, DatasetFormat::kGraded, Evaluator::kPairs},
      {&candidates, DatasetFormat::kIntentLines, std::nullopt},
      {&candidates, DatasetFormat::kMultiModel, Evaluator::kMultiModel},
      {&candidates, DatasetFormat::kGraded, Evaluator::kPairs},
      {&any, DatasetFormat::kIntentLines, std::nullopt},
      {&any, DatasetFormat::kMultiModel, Evaluator::kMultiModel},
      {&any, DatasetFormat::kGraded, Evaluator::kPairs},
  };
  for (std::size_t i = 0; i < table.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(eval::evaluator_for(*table[i].family, table[i].format), table[i].expected);
  }
}

// A kind that always answers with `strong` and declares itself a weak/strong pair; its scorer
// "ships" the prompt "q1".
class AlwaysStrongRoute final : public routes::Route {
 public:
  AlwaysStrongRoute(std::string name, routes::Route& weak, routes::Route& strong)
      : name_(std::move(name)), weak_(weak), strong_(strong) {}
  std::string_view kind() const override { return "always_strong/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       routes::ExecContext& ctx,
                                                       core::StreamSink* sink) override {
    return strong_.run(req, ctx, sink);
  }
  routes::EvalFamily eval_family() override {
    return routes::WeakStrongEval{weak_.name(), strong_.name(),
                                  [](const std::string& prompt) { return prompt == "q1"; }};
  }

 private:
  std::string name_;
  routes::Route& weak_;
  routes::Route& strong_;
};

class EvalFamilyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    routes::RouteTable::register_kind(
        "always_strong", [](const config::RouteSpec& spec, size_t, routes::RouteTable& table) {
          return std::make_unique<AlwaysStrongRoute>(
              spec.name, table.child(spec.node["weak"].as<std::string>(), spec.path),
              table.child(spec.node["strong"].as<std::string>(), spec.path));
        });
    dir_ = fs::temp_directory_path() /
           ("triage-eval-family-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Models `cheap` and `pricey` replaying `dataset` with the given columns; the route `default`
  // names them the other way round from their prices.
  std::string config(const std::string& cheap_replay, const std::string& pricey_replay) {
    const std::string y =
        "store: {type: none}\nmodels:\n"
        "  - {name: cheap, provider: replay, prices: {input: 1, output: 1}, replay: {dataset: x, " +
        cheap_replay + "}}\n" +
        "  - {name: pricey, provider: replay, prices: {input: 10, output: 10}, replay: {dataset: "
        "x, " +
        pricey_replay + "}}\n" +
        "routes:\n  - {name: default, type: always_strong, weak: pricey, strong: cheap}\n";
    const fs::path p = dir_ / "eval.yaml";
    std::ofstream(p, std::ios::trunc) << y;
    return p.string();
  }

  eval::EvalOptions options(const std::string& config, const std::string& dataset,
                            const std::string& route = "default") {
    eval::EvalOptions o;
    o.config_path = config;
    o.dataset = dataset;
    o.route = route;
    o.split = "all";
    o.progress = false;
    return o;
  }

  fs::path dir_;
};

TEST_F(EvalFamilyTest, AKindDefinedOutsideRoutesChoosesItsEvaluator) {
  const std::string data = (dir_ / "pairs.csv").string();
  std::ofstream(data) << "id,prompt,cheap_correct,pricey_correct,cheap_response,pricey_response\n"
                         "r1,q1,1,1,c1,p1\nr2,q2,0,1,c2,p2\nr3,q3,1,0,c3,p3\n";
  const eval::EvalReport report = eval::evaluate(options(
      config("response_column: cheap_response, score_column: cheap_correct",
             "response_column: pricey_response, score_column: pricey_correct"),
      data));
  ASSERT_TRUE(std::holds_alternative<eval::EvalResult>(report));
  const eval::EvalResult& r = std::get<eval::EvalResult>(report);
  EXPECT_EQ(r.route_kind, "always_strong/1");
  // The pair the family names (by price, `cheap` would have been the weak one).
  ASSERT_TRUE(r.is_pair);
  EXPECT_EQ(r.weak_model, "pricey");
  EXPECT_EQ(r.strong_model, "cheap");
  EXPECT_DOUBLE_EQ(r.operating.strong_share, 1.0);
  EXPECT_DOUBLE_EQ(r.operating.quality, 2.0 / 3);  // cheap's grades
  EXPECT_DOUBLE_EQ(r.all_weak->quality, 2.0 / 3);  // pricey's grades
  EXPECT_EQ(r.n_in_scorer_training, 1);             // q1
}

TEST_F(EvalFamilyTest, OnMultiModelDataAPairStaysAPairAndAModelIsEvaluatedAgainstEveryModel) {
  const std::string data = (dir_ / "rb.csv").string();
  std::ofstream(data) << "id,prompt,cheap|score,cheap|cost,cheap|response,pricey|score,"
                         "pricey|cost,pricey|response\n"
                         "r1,q1,1,0.001,c1,1,0.01,p1\nr2,q2,0,0.001,c2,1,0.01,p2\n";
  const std::string cfg = config("response_column: cheap", "response_column: pricey");
  const eval::EvalReport pair = eval::evaluate(options(cfg, data));
  ASSERT_TRUE(std::holds_alternative<eval::EvalResult>(pair));
  EXPECT_EQ(std::get<eval::EvalResult>(pair).weak_model, "pricey");

  const eval::EvalReport model = eval::evaluate(options(cfg, data, "cheap"));
  ASSERT_TRUE(std::holds_alternative<eval::MultiEvalResult>(model));
  const eval::MultiEvalResult& m = std::get<eval::MultiEvalResult>(model);
  EXPECT_EQ(m.route_kind, "model/1");
  EXPECT_EQ(m.candidates, (std::vector<std::string>{"cheap", "pricey"}));
  EXPECT_DOUBLE_EQ(m.operating.quality, 0.5);
  EXPECT_NEAR(m.operating.cost_usd, 0.002, 1e-12);
}

}  // namespace
}  // namespace triage

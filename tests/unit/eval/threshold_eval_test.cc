// `triage eval` of a threshold route (the weak/strong family) on a tiny pair dataset: the pair
// evaluator's numbers, JSON contract, split and baselines. The route itself is tested in
// tests/unit/routes/threshold_test.cc.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include "eval/eval.h"
#include "ml/fasttext_model.h"

namespace triage {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

// Hard prompts (say "integral") need the strong model; easy ones ("hello") do not.
const char* kPrompts[] = {"compute the integral of x", "hello how are you",
                          "integral of sin over pi", "hello there friend"};

class ThresholdFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-threshold-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    // The scorer: a tiny fastText model, then a router block (identity calibration).
    ml::TrainSpec spec;
    for (int i = 0; i < 30; ++i) {
      spec.train.push_back({"integral derivative proof theorem " + std::to_string(i), "strong"});
      spec.train.push_back({"hello thanks greeting friend " + std::to_string(i), "weak"});
    }
    spec.out_path = (dir_ / "router.bin").string();
    spec.threads = 1;
    spec.epoch = 30;
    ml::train_classifier(spec);
    std::ifstream in(spec.out_path + ".json");
    std::stringstream buf;
    buf << in.rdbuf();
    auto meta = boost::json::parse(buf.str()).as_object();
    meta["router"] = boost::json::object{
        {"positive_label", "strong"},
        {"features", "prompt"},
        {"calibration", boost::json::object{{"a", 1.0}, {"b", 0.0}}},
        {"validation_scores", boost::json::array{0.9, 0.8, 0.3, 0.2, 0.1}},
        {"split", boost::json::object{{"key", "id"}, {"seed", 1}, {"test_below", 5000},
                                      {"calib_below", 5000}}},
        {"data_file_sha256", "not-this-file"}};
    write(spec.out_path + ".json", boost::json::serialize(meta));
    // The dataset: grades say strong is needed exactly on the hard prompts.
    std::string csv = "id,prompt,weak_correct,strong_correct,weak_response,strong_response\n";
    for (int i = 0; i < 4; ++i) {
      const bool hard = i % 2 == 0;
      csv += "r" + std::to_string(i) + "," + kPrompts[i] + "," + (hard ? "0" : "1") + ",1,weak " +
             std::to_string(i) + ",strong " + std::to_string(i) + "\n";
    }
    write(dir_ / "pairs.csv", csv);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string config(const std::string& knob) {
    std::string y =
        "store: {type: none}\n"
        "models:\n"
        "  - name: weak\n    provider: replay\n    tier: medium\n"
        "    replay: {dataset: pairs.csv, response_column: weak_response, score_column: weak_correct}\n"
        "    prices: {input: 1.0, output: 1.0}\n"
        "  - name: strong\n    provider: replay\n    tier: large\n"
        "    replay: {dataset: pairs.csv, response_column: strong_response, score_column: strong_correct}\n"
        "    prices: {input: 10.0, output: 10.0}\n"
        "routes:\n"
        "  - name: default\n    type: threshold\n    scorer: router.bin\n    weak: weak\n"
        "    strong: strong\n    " + knob + "\n";
    const fs::path p = dir_ / "eval.yaml";
    write(p, y);
    return p.string();
  }

  fs::path dir_;
};

TEST_F(ThresholdFixture, EvalJsonHasTheContractKeys) {
  eval::EvalOptions o;
  o.config_path = config("threshold: 0.5");
  o.dataset = (dir_ / "pairs.csv").string();
  o.sweep = true;
  o.progress = false;
  const eval::EvalReport report = eval::evaluate(o);
  ASSERT_TRUE(std::holds_alternative<eval::EvalResult>(report));
  const eval::EvalResult& r = std::get<eval::EvalResult>(report);
  EXPECT_EQ(r.route_kind, "threshold/1");
  // The pair is the one the route names, not guessed from the grade columns.
  EXPECT_EQ(r.weak_model, "weak");
  EXPECT_EQ(r.strong_model, "strong");
  EXPECT_EQ(r.n_in_scorer_training, 0);  // a fastText scorer ships no training prompts
  EXPECT_EQ(r.n_rows, 4);
  EXPECT_EQ(r.n_excluded_train, 0);  // another file than the scorer's: no split
  ASSERT_TRUE(r.is_pair);
  // A perfect scorer on this fixture: quality of the oracle at 50% strong.
  EXPECT_DOUBLE_EQ(r.operating.quality, 1.0);
  EXPECT_DOUBLE_EQ(r.operating.strong_share, 0.5);
  EXPECT_DOUBLE_EQ(r.operating.routing.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.all_weak->quality, 0.5);
  EXPECT_DOUBLE_EQ(r.all_strong->quality, 1.0);
  // Curve (0,0) (0.25,0.5) (0.5,1) ... (1,1): APGR = 0.0625 + 0.1875 + 0.5 = 0.75.
  ASSERT_TRUE(r.apgr.has_value());
  EXPECT_NEAR(*r.apgr, 0.75, 1e-9);
  EXPECT_NEAR(*r.cpt50, 0.25, 1e-9);
  EXPECT_NEAR(*r.cpt80, 0.4, 1e-9);

  boost::json::object j = eval::eval_json(r);
  for (const char* k : {"apgr", "cpt50", "cpt80", "points", "baselines", "operating_point"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_TRUE(j["apgr"].is_double());
  // Four rows: the sweep reaches every strong share a threshold can give, 0 to 1 by 1/4.
  ASSERT_EQ(j["points"].as_array().size(), r.points.size());
  std::set<double> shares;
  for (const auto& p : r.points) shares.insert(p.strong_share);
  EXPECT_EQ(shares, (std::set<double>{0.0, 0.25, 0.5, 0.75, 1.0}));
  for (const char* k : {"all_weak", "all_strong", "random", "oracle"}) {
    EXPECT_TRUE(j["baselines"].as_object().contains(k)) << k;
  }
  EXPECT_NE(eval::eval_svg(r).find("<polyline"), std::string::npos);

  // --split test re-applies the scorer's split rule: fewer rows, all counted.
  o.split = "test";
  const eval::EvalResult t = std::get<eval::EvalResult>(eval::evaluate(o));
  EXPECT_EQ(t.n_rows + t.n_excluded_train, 4);
  EXPECT_GT(t.n_excluded_train, 0);  // the scorer's split (seed 1, 50% test) excludes some
  EXPECT_EQ(t.split_applied.rfind("test part of", 0), 0u) << t.split_applied;
}

}  // namespace
}  // namespace triage

// `triage train cascade-scorer` on a tiny pair dataset (metadata contract, split honoured), and
// `triage eval --sweep` of a cascade through its scorer knob (endpoints all-weak / all-strong).
#include "train/train_scorer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "checks/scorer_check.h"
#include "eval/eval.h"
#include "train/train_router.h"

namespace triage::train {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

class TrainScorerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("triage-train-scorer-" + std::to_string(::getpid()) + "-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::create_directories(dir_);
    // 120 rows: the weak answer is right exactly when it states "#### N"; strong always is.
    std::string csv = "id,prompt,weak_correct,strong_correct,weak_response,strong_response\n";
    for (int i = 0; i < 120; ++i) {
      const bool ok = i % 3 != 0;
      const std::string n = std::to_string(i);
      csv += "row" + n + ",what is " + n + " plus 1?," + (ok ? "1" : "0") + ",1," +
             (ok ? "\"" + n + " + 1 = " + std::to_string(i + 1) + "\n#### " + std::to_string(i + 1) + "\""
                 : std::string("I think it is about the number and")) +
             ",\"#### " + std::to_string(i + 1) + "\"\n";
    }
    dataset_ = (dir_ / "pairs.csv").string();
    std::ofstream(dataset_) << csv;
    opts_.dataset = dataset_;
    opts_.out_path = (dir_ / "scorer.bin").string();
    opts_.features = "cheap+response";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string dataset_;
  TrainScorerOptions opts_;
};

TEST_F(TrainScorerFixture, WritesModelAndScorerMetadata) {
  const TrainScorerReport rep = train_scorer(opts_);
  EXPECT_EQ(rep.n_rows, 120);
  EXPECT_EQ(rep.n_fit + rep.n_calibration + rep.n_test, 120);
  EXPECT_GT(rep.n_test, 0);
  EXPECT_EQ(rep.strong_column, "strong_correct");  // derived from the label column
  EXPECT_EQ(rep.candidates.size(), 3u);            // one feature set x the grid
  EXPECT_GT(rep.test.auc, 0.9);                    // the signal is in the cheap tokens
  ASSERT_TRUE(rep.test.apgr);
  ASSERT_TRUE(fs::exists(opts_.out_path));
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().string().find(".candidate"), std::string::npos) << e.path();
  }

  auto meta = boost::json::parse(read(opts_.out_path + ".json")).as_object();
  const auto& s = meta.at("scorer").as_object();
  EXPECT_EQ(s.at("format").as_string(), "triage-scorer/1");
  EXPECT_EQ(s.at("positive_label").as_string(), "ok");
  EXPECT_EQ(s.at("features").as_string(), "cheap+response");
  EXPECT_EQ(s.at("response_column").as_string(), "weak_response");
  EXPECT_EQ(s.at("label_column").as_string(), "weak_correct");
  EXPECT_EQ(s.at("data_file_sha256").as_string(), datasets::file_sha256(dataset_));
  EXPECT_EQ(datasets::SplitRule::from_json(s.at("split").as_object()).seed, opts_.split.seed);
  EXPECT_EQ(s.at("n_test").as_int64(), rep.n_test);
  EXPECT_TRUE(s.at("calibration").as_object().contains("a"));
  EXPECT_TRUE(s.at("metrics").as_object().contains("test"));
  // The check loads what the trainer wrote and scores it the same way.
  auto scorer = ml::AnswerScorer::load(opts_.out_path);
  EXPECT_DOUBLE_EQ(scorer->platt_a(), rep.platt_a);
  EXPECT_GT(scorer->score("q", "3 + 1 = 4\n#### 4"), scorer->score("q", "I think it is about"));
}

TEST_F(TrainScorerFixture, MissingColumnsAreNamed) {
  opts_.response_column = "mixtral_response";
  try {
    train_scorer(opts_);
    FAIL();
  } catch (const ml::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("no column 'mixtral_response'"), std::string::npos)
        << e.what();
  }
}

TEST_F(TrainScorerFixture, EvalSweepsTheCascadeKnobFromAllWeakToAllStrong) {
  train_scorer(opts_);
  const std::string yaml =
      "store: {type: none}\n"
      "models:\n"
      "  - name: weak\n    provider: replay\n    tier: medium\n"
      "    replay: {dataset: pairs.csv, response_column: weak_response, score_column: weak_correct}\n"
      "    prices: {input: 1.0, output: 1.0}\n"
      "  - name: strong\n    provider: replay\n    tier: large\n"
      "    replay: {dataset: pairs.csv, response_column: strong_response, score_column: strong_correct}\n"
      "    prices: {input: 10.0, output: 10.0}\n"
      "routes:\n"
      "  - name: default\n    type: cascade\n    steps:\n"
      "      - {route: weak, checks: [{type: scorer, model: scorer.bin, threshold: 0.5}]}\n"
      "      - {route: strong}\n";
  std::ofstream(dir_ / "eval.yaml") << yaml;
  eval::EvalOptions eo;
  eo.config_path = (dir_ / "eval.yaml").string();
  eo.dataset = dataset_;
  eo.sweep = true;
  eo.sweep_points = 11;
  eo.progress = false;
  const eval::EvalResult r = std::get<eval::EvalResult>(eval::evaluate(eo));
  EXPECT_EQ(r.route_kind, "cascade/1");
  EXPECT_TRUE(r.is_pair);
  EXPECT_EQ(r.weak_model, "weak");
  // The scorer's metadata says it was trained on this file: only its test part is evaluated.
  EXPECT_EQ(r.n_rows, r.n_rows_file - r.n_excluded_train);
  EXPECT_NE(r.split_applied.find("test part"), std::string::npos) << r.split_applied;
  ASSERT_TRUE(r.swept);
  // Endpoints: threshold 0 accepts every weak answer, threshold 1 escalates every one.
  EXPECT_DOUBLE_EQ(r.points.front().threshold, 0.0);
  EXPECT_DOUBLE_EQ(r.points.front().strong_share, 0.0);
  EXPECT_DOUBLE_EQ(r.points.front().quality, r.all_weak->quality);
  EXPECT_DOUBLE_EQ(r.points.back().threshold, 1.0);
  EXPECT_DOUBLE_EQ(r.points.back().strong_share, 1.0);
  EXPECT_DOUBLE_EQ(r.points.back().quality, r.all_strong->quality);
  // The cascade pays the weak call on every request: escalating all costs more than all-strong.
  EXPECT_GT(r.points.back().cost_usd, r.all_strong->cost_usd);
  // A perfect signal: escalating exactly the wrong answers recovers the whole gap early.
  ASSERT_TRUE(r.apgr && r.cpt80);
  EXPECT_GT(*r.apgr, 0.7);  // random: 0.5; exact ranking on this split: ~0.8
  EXPECT_LT(*r.cpt80, 0.5);
  // The configured knob value is restored after the sweep.
  EXPECT_DOUBLE_EQ(r.operating.threshold, 0.5);
}

}  // namespace
}  // namespace triage::train

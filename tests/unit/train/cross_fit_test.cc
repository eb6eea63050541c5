// Cross-fitting helpers: fold assignment and (out-of-fold) category rates.
#include "train/cross_fit.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace triage::train {
namespace {

TEST(FoldOf, DeterministicInRangeAndRoughlyBalanced) {
  std::vector<int> count(5, 0);
  for (int i = 0; i < 1000; ++i) {
    const std::string key = std::to_string(i) + "-row";
    const int f = fold_of(key, 7, 5);
    ASSERT_GE(f, 0);
    ASSERT_LT(f, 5);
    EXPECT_EQ(f, fold_of(key, 7, 5));
    ++count[static_cast<std::size_t>(f)];
  }
  for (int c : count) {
    EXPECT_GT(c, 150);
    EXPECT_LT(c, 250);
  }
  EXPECT_EQ(fold_of("anything", 7, 1), 0);
}

TEST(FoldOf, TheSeedChangesTheAssignment) {
  int moved = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string key = std::to_string(i) + "-k";
    moved += fold_of(key, 1, 5) != fold_of(key, 2, 5);
  }
  EXPECT_GT(moved, 50);
}

TEST(CategoryRates, SmoothedTowardsThePrior) {
  // a: 3 rows, 2 positive; b: 1 row, 0 positive; one row without a category, positive.
  const std::vector<std::string> cats = {"a", "a", "a", "b", ""};
  const std::vector<double> y = {1, 1, 0, 0, 1};
  const CategoryRates r = category_rates(cats, y, 2.0);
  EXPECT_DOUBLE_EQ(r.prior, 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(r.rate("a"), (2.0 + 2.0 * 0.6) / (3.0 + 2.0));
  EXPECT_DOUBLE_EQ(r.rate("b"), (0.0 + 2.0 * 0.6) / (1.0 + 2.0));
  EXPECT_DOUBLE_EQ(r.rate(""), 0.6);       // no category: the prior
  EXPECT_DOUBLE_EQ(r.rate("never"), 0.6);  // unknown: the prior
  EXPECT_EQ(r.rates.size(), 2u);
  const CategoryRates raw = category_rates(cats, y, 0.0);
  EXPECT_DOUBLE_EQ(raw.rate("a"), 2.0 / 3.0);
}

TEST(CategoryRates, OutOfFoldNeverSeesTheRowsOwnFold) {
  // One category; fold 0 is all positive, fold 1 all negative: without smoothing a row's rate
  // is exactly the other fold's, never its own.
  const std::vector<std::string> cats = {"a", "a", "a", "a"};
  const std::vector<double> y = {1, 1, 0, 0};
  const std::vector<int> folds = {0, 0, 1, 1};
  const std::vector<double> r = out_of_fold_category_rates(cats, y, folds, 2, 0.0);
  EXPECT_EQ(r, (std::vector<double>{0.0, 0.0, 1.0, 1.0}));
  // With smoothing the other fold's prior is used: still nothing from the own fold.
  const std::vector<double> s = out_of_fold_category_rates(cats, y, folds, 2, 3.0);
  EXPECT_DOUBLE_EQ(s[0], 0.0);
  EXPECT_DOUBLE_EQ(s[3], 1.0);
}

}  // namespace
}  // namespace triage::train

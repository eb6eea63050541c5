// The gain router's pieces: smoothed category rates, category medians, the ridge logistic fit
// and the input vector (ml/gain_router.h). The trained and served whole is tested in
// unit_offline (TrainGainRouterTest).
#include "ml/gain_router.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace triage::ml {
namespace {

TEST(GainRouterParts, SmoothedRatesPullSmallCategoriesTowardsTheOverallRate) {
  const std::vector<std::string_view> cats = {"a", "a", "a", "a", "b", ""};
  const std::vector<double> y = {1, 1, 1, 0, 0, 1};
  const SmoothedRates r = SmoothedRates::fit(cats, y, 2.0);
  const double prior = 4.0 / 6.0;
  EXPECT_DOUBLE_EQ(r.prior, prior);
  EXPECT_DOUBLE_EQ(r.rate("a"), (3.0 + 2.0 * prior) / (4.0 + 2.0));
  EXPECT_DOUBLE_EQ(r.rate("b"), (0.0 + 2.0 * prior) / (1.0 + 2.0));
  EXPECT_DOUBLE_EQ(r.rate("unknown"), prior);
  EXPECT_DOUBLE_EQ(r.rate(""), prior);  // empty categories count only for the prior
}

TEST(GainRouterParts, CategoryMediansFallBackToTheOverallMedian) {
  const std::vector<std::string_view> cats = {"a", "a", "a", "b", "b"};
  const CategoryMedians m = CategoryMedians::fit(cats, {1.0, 5.0, 3.0, 10.0, 20.0});
  EXPECT_DOUBLE_EQ(m.median("a"), 3.0);
  EXPECT_DOUBLE_EQ(m.median("b"), 15.0);
  EXPECT_DOUBLE_EQ(m.median("c"), 5.0);
}

TEST(GainRouterParts, RidgeLogisticFitFindsTheInformativeInputAndStandardises) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<GainInputs> x;
  std::vector<double> y;
  for (int i = 0; i < 2000; ++i) {
    GainInputs row{};
    for (auto& v : row) v = noise(rng);
    row[1] = 100.0 + 10.0 * row[1];  // a scaled, shifted input: standardisation must undo it
    const double z = 2.0 * (row[1] - 100.0) / 10.0 - 1.0;
    y.push_back(std::bernoulli_distribution(1.0 / (1.0 + std::exp(-z)))(rng) ? 1.0 : 0.0);
    x.push_back(row);
  }
  const LinearProbability m = LinearProbability::fit(x, y);
  ASSERT_EQ(m.weights.size(), kGainInputCount);
  EXPECT_NEAR(m.mean[1], 100.0, 1.0);
  EXPECT_NEAR(m.sd[1], 10.0, 0.5);
  EXPECT_NEAR(m.weights[1], 2.0, 0.3);
  EXPECT_NEAR(m.bias, -1.0, 0.2);
  for (std::size_t k = 0; k < kGainInputCount; ++k) {
    if (k != 1) {
      EXPECT_LT(std::abs(m.weights[k]), 0.2) << gain_input_names()[k];
    }
  }
  GainInputs hi{}, lo{};
  hi[1] = 120.0;
  lo[1] = 80.0;
  EXPECT_GT(m.probability(hi), 0.9);
  EXPECT_LT(m.probability(lo), 0.1);
}

TEST(GainRouterParts, InputsAreRateNeighboursFeaturesAndRelativeLength) {
  const std::string prompt = "Which is NOT a prime?\nA. 2\nB. 3\nC. 4\nD. 5\nAnswer:";
  const std::vector<double> residual = {0.5, -0.5, 1.0};
  const std::vector<Neighbor> full = {{0.75, 0}, {0.25, 1}};
  const std::vector<Neighbor> stem = {{1.0, 2}};
  const GainInputs x = gain_inputs(prompt, 0.8, full, stem, residual, 2.0);
  EXPECT_NEAR(x[0], std::log(0.8 / 0.2), 1e-12);
  EXPECT_NEAR(x[1], (0.75 * 0.5 - 0.25 * 0.5) / 1.0, 1e-6);
  EXPECT_NEAR(x[2], 1.0, 1e-6);
  const auto f = prompt_features(prompt);
  for (std::size_t i = 0; i < kPromptFeatureCount; ++i) EXPECT_DOUBLE_EQ(x[3 + i], f[i]);
  EXPECT_DOUBLE_EQ(x[kGainInputCount - 1], question_length_log(prompt) - 2.0);
  // A rate of 0 or 1 is clipped, so the logit stays finite; no neighbours give 0.
  const GainInputs edge = gain_inputs(prompt, 1.0, {}, {}, residual, 0.0);
  EXPECT_TRUE(std::isfinite(edge[0]));
  EXPECT_DOUBLE_EQ(edge[1], 0.0);
  EXPECT_EQ(gain_input_names().front(), "category_rate_logit");
  EXPECT_EQ(gain_input_names().back(), "question_length_vs_category");
}

TEST(GainRouterParts, WhatAPromptCostsIsBounded) {
  // Only the first kGainMaxPromptBytes bytes are read...
  const std::string huge(kGainMaxPromptBytes * 3, 'x');
  EXPECT_EQ(gain_text(huge).size(), kGainMaxPromptBytes);
  EXPECT_EQ(gain_text("short"), "short");
  // ... and option overlap compares only the first kOverlapMaxOptions options: extra options
  // change nothing, so thousands of "A. " lines cost linear time, not quadratic.
  std::string head = "Pick one";
  for (std::size_t i = 0; i < kOverlapMaxOptions; ++i) head += "\nA. same words here";
  std::string more = head;
  for (int i = 0; i < 2000; ++i) more += "\nB. completely different " + std::to_string(i);
  const std::size_t overlap = 20;  // index of opt_overlap in prompt_feature_names()
  ASSERT_EQ(prompt_feature_names()[overlap], "opt_overlap");
  EXPECT_DOUBLE_EQ(prompt_features(head + "\nAnswer:")[overlap], 1.0);
  EXPECT_DOUBLE_EQ(prompt_features(more + "\nAnswer:")[overlap], 1.0);
}

}  // namespace
}  // namespace triage::ml

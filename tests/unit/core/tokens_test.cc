// core::estimate_tokens: the usage estimate when an upstream reports none (the average of ~4
// characters and ~0.75 words per token, at least one token for any text).
#include "core/tokens.h"

#include <gtest/gtest.h>

#include <string>

namespace triage::core {
namespace {

TEST(EstimateTokens, EmptyTextIsZeroAnyOtherTextAtLeastOne) {
  EXPECT_EQ(estimate_tokens(""), 0);
  EXPECT_EQ(estimate_tokens("a"), 2);    // 1 char -> 1, 1 word -> 2: (1 + 2 + 1) / 2
  EXPECT_EQ(estimate_tokens("   "), 1);  // no word, but text: at least one (by characters)
}

TEST(EstimateTokens, AveragesTheCharacterAndWordRules) {
  // 11 chars -> 3, 2 words -> 3: (3 + 3 + 1) / 2 = 3.
  EXPECT_EQ(estimate_tokens("hello world"), 3);
  // 43 chars -> 11, 9 words -> 12: (11 + 12 + 1) / 2 = 12.
  EXPECT_EQ(estimate_tokens("The quick brown fox jumps over the lazy dog"), 12);
  // One long word: 40 chars -> 10, 1 word -> 2: (10 + 2 + 1) / 2 = 6.
  EXPECT_EQ(estimate_tokens(std::string(40, 'x')), 6);
  // Tabs and newlines separate words like spaces.
  EXPECT_EQ(estimate_tokens("a\tb\nc d"), estimate_tokens("a b c d"));
}

TEST(EstimateTokens, GrowsLinearlyWithTheText) {
  const std::string sentence = "route each request to the cheapest model that can answer it ";
  const int64_t one = estimate_tokens(sentence);
  const int64_t ten = estimate_tokens([&] {
    std::string s;
    for (int i = 0; i < 10; ++i) s += sentence;
    return s;
  }());
  EXPECT_NEAR(static_cast<double>(ten), 10.0 * static_cast<double>(one), 10.0);
}

}  // namespace
}  // namespace triage::core

#include "ml/bm25.h"

#include <gtest/gtest.h>

#include <cmath>

namespace triage::ml {
namespace {

TEST(Bm25Tokens, FollowsNormalizeTextDropsPunctuationAndStopWordsFoldsPlurals) {
  EXPECT_EQ(bm25_tokens("Card's LOST, (again)!"), (std::vector<std::string>{"card", "lost"}));
  EXPECT_EQ(bm25_tokens("Can I see my cards' fees for business travel?"),
            (std::vector<std::string>{"see", "card", "fee", "business", "travel"}));
  EXPECT_EQ(bm25_tokens("report_lost_card $5,000"),
            (std::vector<std::string>{"report", "lost", "card", "5", "000"}));
  EXPECT_TRUE(bm25_tokens(" ... ").empty());
}

TEST(Bm25Index, ScoresMatchTheFormula) {
  Bm25Index idx({1.2, 0.75});
  idx.add("lost card lost");  // len 3
  idx.add("card limit");      // len 2
  idx.add("travel abroad");   // len 2
  // avgdl = 7/3. "lost": df 1; "card": df 2. N = 3.
  const double avgdl = 7.0 / 3.0;
  auto idf = [](double df) { return std::log(1.0 + (3.0 - df + 0.5) / (df + 0.5)); };
  auto term = [&](double tf, double len) {
    return tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * len / avgdl));
  };
  auto hits = idx.search("lost card", 10);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].passage, 0u);
  EXPECT_NEAR(hits[0].score, idf(1) * term(2, 3) + idf(2) * term(1, 3), 1e-12);
  EXPECT_EQ(hits[1].passage, 1u);
  EXPECT_NEAR(hits[1].score, idf(2) * term(1, 2), 1e-12);
  // A repeated query word counts as often as it occurs.
  EXPECT_NEAR(idx.search("lost lost card", 1)[0].score,
              2 * idf(1) * term(2, 3) + idf(2) * term(1, 3), 1e-12);
  EXPECT_EQ(idx.search("lost card", 1).size(), 1u);
}

TEST(Bm25Index, EqualScoresKeepInsertionOrder) {
  Bm25Index idx;
  idx.add("alpha beta");
  idx.add("gamma delta");
  idx.add("alpha beta");
  auto hits = idx.search("alpha", 5);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].passage, 0u);
  EXPECT_EQ(hits[1].passage, 2u);
  EXPECT_TRUE(idx.search("nothing", 5).empty());
}

}  // namespace
}  // namespace triage::ml

// Where the gain router searches its neighbours (ml/gain_neighbors.h): among the reference rows
// of the request's category, all of them for a category without rows, reported as reference
// row numbers.
#include "ml/gain_neighbors.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "ml/gain_router.h"
#include "ml/prompt_features.h"

namespace triage::ml {
namespace {

// Multiple-choice prompts (so both fields exist) on a few topics; row r is in category
// categories[r].
struct References {
  std::vector<std::string> prompts, categories;
  void add(const std::string& category, const std::string& question) {
    prompts.push_back(question + "\nA. one\nB. two\nC. three\nD. four\nAnswer:");
    categories.push_back(category);
  }
};

References two_subjects() {
  References r;
  const char* topics[] = {"orbit comet", "pottery glaze", "cipher riddle",
                          "tax audit",   "violin sonata", "river delta"};
  // The same questions in both subjects: only the category tells their rows apart.
  for (const char* category : {"astronomy", "history"}) {
    for (int i = 0; i < 60; ++i) {
      r.add(category,
            std::string("what about the ") + topics[i % 6] + " case " + std::to_string(i % 7));
    }
  }
  return r;
}

std::set<std::string> categories_of(const std::vector<Neighbor>& nb, const References& r) {
  std::set<std::string> out;
  for (const Neighbor& n : nb) out.insert(r.categories.at(n.index));
  return out;
}

TEST(GainNeighborhoods, SearchesOnlyTheRequestsCategoryAndReportsReferenceRows) {
  const References r = two_subjects();
  const GainNeighborhoods nb(r.prompts, r.categories);
  const std::string query = r.prompts[3];
  for (const std::string category : {"astronomy", "history"}) {
    std::vector<Neighbor> full, stem;
    nb.search(query, category, 25, 50, {}, full, stem);
    ASSERT_GE(full.size(), 10u);
    ASSERT_GE(stem.size(), 10u);
    EXPECT_EQ(categories_of(full, r), std::set<std::string>{category});
    EXPECT_EQ(categories_of(stem, r), std::set<std::string>{category});
    // The most similar is the query itself, in the category's rows.
    EXPECT_EQ(r.prompts[full[0].index], query);
    EXPECT_NEAR(full[0].similarity, 1.0, 1e-6);
  }
}

TEST(GainNeighborhoods, ACategoryWithoutRowsSearchesEveryRow) {
  const References r = two_subjects();
  const GainNeighborhoods nb(r.prompts, r.categories);
  std::vector<Neighbor> full, stem;
  nb.search(r.prompts[3], "law", 25, 50, {}, full, stem);
  EXPECT_EQ(categories_of(full, r), (std::set<std::string>{"astronomy", "history"}));
  nb.search(r.prompts[3], "", 25, 50, {}, full, stem);
  EXPECT_EQ(categories_of(full, r), (std::set<std::string>{"astronomy", "history"}));
}

TEST(GainNeighborhoods, SkipIsAskedAboutReferenceRows) {
  const References r = two_subjects();
  const GainNeighborhoods nb(r.prompts, r.categories);
  std::vector<Neighbor> full, stem;
  std::set<std::size_t> asked;
  // Skip the even rows: every answer is an odd row, and every row asked about is of the
  // category searched (row numbers, not positions in the category's index).
  nb.search(
      r.prompts[70], "history", 300, 300,
      [&](std::size_t row) {
        asked.insert(row);
        return row % 2 == 0;
      },
      full, stem);
  ASSERT_FALSE(full.empty());
  for (const Neighbor& n : full) EXPECT_EQ(n.index % 2, 1u);
  for (const Neighbor& n : stem) EXPECT_EQ(n.index % 2, 1u);
  ASSERT_FALSE(asked.empty());
  for (std::size_t row : asked) EXPECT_EQ(r.categories.at(row), "history") << row;
}

// With one category the search is the plain index's over every row (as format 2 searched):
// same neighbours, same similarities.
TEST(GainNeighborhoods, OneCategoryIsThePlainIndex) {
  References r = two_subjects();
  for (auto& c : r.categories) c = "";
  const GainNeighborhoods nb(r.prompts, r.categories);
  std::vector<std::string> stems;
  for (const auto& p : r.prompts) stems.emplace_back(question_stem(p));
  const std::vector<std::string> fields[] = {r.prompts, stems};
  const TfidfIndex plain(fields, kGainPostingsPerTerm);
  for (std::size_t q : {0u, 17u, 99u}) {
    std::vector<Neighbor> full, stem;
    nb.search(r.prompts[q], "any", 25, 50, {}, full, stem);
    TfidfTerms all, head;
    TfidfTermSlots slots;
    tfidf_terms(r.prompts[q], stems[q].size(), all, head);
    plain.find(all, slots);
    const auto want_full = plain.neighbors(all, slots, 0, 25);
    const auto want_stem = plain.neighbors(head, slots, 1, 50);
    ASSERT_EQ(full.size(), want_full.size());
    ASSERT_EQ(stem.size(), want_stem.size());
    for (std::size_t i = 0; i < full.size(); ++i) {
      EXPECT_EQ(full[i].index, want_full[i].index);
      EXPECT_EQ(full[i].similarity, want_full[i].similarity);
    }
    for (std::size_t i = 0; i < stem.size(); ++i) {
      EXPECT_EQ(stem[i].index, want_stem[i].index);
      EXPECT_EQ(stem[i].similarity, want_stem[i].similarity);
    }
  }
}

// A category of one row has no term in two of its prompts: no neighbours, no error.
TEST(GainNeighborhoods, ACategoryOfOneRowHasNoNeighbours) {
  References r = two_subjects();
  r.add("lonely", "what about the orbit comet case 1");
  const GainNeighborhoods nb(r.prompts, r.categories);
  std::vector<Neighbor> full, stem;
  nb.search(r.prompts.back(), "lonely", 25, 50, {}, full, stem);
  EXPECT_TRUE(full.empty());
  EXPECT_TRUE(stem.empty());
}

TEST(GainNeighborhoods, RefusesNoRowsOrMismatchedCategories) {
  EXPECT_THROW(GainNeighborhoods({}, {}), std::invalid_argument);
  EXPECT_THROW(GainNeighborhoods({"a"}, {}), std::invalid_argument);
}

}  // namespace
}  // namespace triage::ml

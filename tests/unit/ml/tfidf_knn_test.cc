#include "ml/tfidf_knn.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/csv.h"
#include "ml/datasets.h"

namespace triage::ml {
namespace {

// Float postings: similarities are exact to about 1e-7.
constexpr double kSimTolerance = 1e-6;

// The synthetic corpora's words: a 64-bit linear congruential generator, its high bits.
struct Lcg {
  uint64_t state;
  std::size_t operator()() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>(state >> 33);
  }
};

std::vector<std::size_t> indices(const std::vector<Neighbor>& nb) {
  std::vector<std::size_t> out;
  for (const Neighbor& n : nb) out.push_back(n.index);
  return out;
}

// N = 20, so a term is kept when 2 <= df < 4.
//   alpha, beta: df 3 (docs 0-2); "alpha beta": df 2 (docs 0, 1; doc 2 has "beta , alpha");
//   epsilon: df 2 (docs 3, 4); common: df 4 = 0.2 * N, dropped; every other term occurs in one
//   document, dropped.
std::vector<std::string> small_corpus() {
  std::vector<std::string> docs = {
      "alpha beta",   "Alpha  BETA", "beta, alpha gamma", "delta delta delta epsilon",
      "epsilon zeta", "common wa",   "common wb",         "common wc",
      "common wd"};
  for (const char* w : {"qa", "qb", "qc", "qd", "qe", "qf", "qg", "qh", "qi", "qj", "qk"}) {
    docs.emplace_back(w);
  }
  return docs;
}

class SmallCorpus : public ::testing::Test {
 protected:
  TfidfIndex index_{small_corpus()};
  const double a_ = std::log(20.0 / 3.0);  // idf of alpha and beta
  const double c_ = std::log(10.0);        // idf of "alpha beta"
  // Docs 0 and 1 are (a, a, c) / |.|, doc 2 is (a, a) / |.|.
  const double d0_norm_ = std::sqrt(2 * a_ * a_ + c_ * c_);
  const double d2_norm_ = std::sqrt(2.0) * a_;
};

TEST_F(SmallCorpus, KeepsOnlyTermsWithDfFromTwoToBelowAFifth) {
  EXPECT_EQ(index_.size(), 20u);
  EXPECT_EQ(index_.vocabulary_size(), 4u);                  // alpha, beta, "alpha beta", epsilon
  EXPECT_TRUE(index_.neighbors("common", 5).empty());       // df 4 = 0.2 N
  EXPECT_TRUE(index_.neighbors("gamma delta", 5).empty());  // df 1
  EXPECT_TRUE(index_.neighbors("zzz", 5).empty());          // unknown
}

TEST_F(SmallCorpus, SimilaritiesFollowTheWeights) {
  const auto nb = index_.neighbors("alpha beta", 10);
  ASSERT_EQ(indices(nb), (std::vector<std::size_t>{0, 1, 2}));  // k larger than the matches
  EXPECT_NEAR(nb[0].similarity, 1.0, kSimTolerance);
  EXPECT_NEAR(nb[1].similarity, 1.0, kSimTolerance);
  EXPECT_NEAR(nb[2].similarity, 2 * a_ * a_ / (d0_norm_ * d2_norm_), kSimTolerance);

  // Term frequency enters as 1 + ln tf; the unknown token "!" and bigram "alpha alpha" are
  // ignored.
  const auto tf = index_.neighbors("alpha ALPHA beta !", 10);
  ASSERT_EQ(indices(tf), (std::vector<std::size_t>{0, 1, 2}));
  const double wa = (1 + std::log(2.0)) * a_;
  const double q_norm = std::sqrt(wa * wa + a_ * a_ + c_ * c_);
  EXPECT_NEAR(tf[0].similarity, (wa * a_ + a_ * a_ + c_ * c_) / (q_norm * d0_norm_), kSimTolerance);
  EXPECT_NEAR(tf[2].similarity, (wa * a_ + a_ * a_) / (q_norm * d2_norm_), kSimTolerance);
}

TEST_F(SmallCorpus, BigramsCountInOrder) {
  // "beta alpha" has no kept bigram: it equals doc 2, and docs 0 and 1 fall below it.
  const auto nb = index_.neighbors("beta alpha", 10);
  ASSERT_EQ(indices(nb), (std::vector<std::size_t>{2, 0, 1}));
  EXPECT_NEAR(nb[0].similarity, 1.0, kSimTolerance);
  EXPECT_NEAR(nb[1].similarity, 2 * a_ * a_ / (d0_norm_ * d2_norm_), kSimTolerance);
  EXPECT_NEAR(nb[2].similarity, nb[1].similarity, 1e-12);
}

TEST_F(SmallCorpus, TiesSkipAndK) {
  // Docs 3 and 4 both reduce to "epsilon": equal similarity 1, lower index first.
  auto nb = index_.neighbors("DELTA Epsilon", 10);
  ASSERT_EQ(indices(nb), (std::vector<std::size_t>{3, 4}));
  EXPECT_NEAR(nb[0].similarity, 1.0, kSimTolerance);
  EXPECT_NEAR(nb[1].similarity, 1.0, kSimTolerance);
  EXPECT_EQ(indices(index_.neighbors("epsilon", 1)), (std::vector<std::size_t>{3}));
  EXPECT_EQ(indices(index_.neighbors("epsilon", 10, [](std::size_t i) { return i == 3; })),
            (std::vector<std::size_t>{4}));
  EXPECT_EQ(indices(index_.neighbors("alpha beta", 2, [](std::size_t i) { return i == 0; })),
            (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(indices(index_.neighbors("alpha beta", 2)), (std::vector<std::size_t>{0, 1}));
  EXPECT_TRUE(index_.neighbors("epsilon", 10, [](std::size_t) { return true; }).empty());
  EXPECT_TRUE(index_.neighbors("epsilon", 0).empty());
  EXPECT_TRUE(index_.neighbors("", 10).empty());
  EXPECT_TRUE(index_.neighbors(" \n\t ", 10).empty());
}

TEST(TfidfIndex, TokensAreLetterRunsDigitRunsAndSingleCharacters) {
  // N = 12: kept terms have df == 2.
  const std::vector<std::string> docs = {
      "don\u2019t stop",   // don ’ t + bigrams
      "Don\u2019t panic",  // same first five terms
      "route66 ok",        // route 66 ok: a digit run splits a word
      "ROUTE 66",          // route 66
      "a\u00a0b",          // U+00A0 is a space: "a", "b", "a b"
      "a b",               //
      "\u00c9mile",        // "É" lower-cases to "é", a token of its own before "mile"
      "\u00e9mile",        //
      "one \xff",          // an invalid UTF-8 byte is a token
      "two \xff",          //
      "three",
      "four"};
  const TfidfIndex index(docs);
  // don, ’, t, "don ’", "’ t" | route, 66, "route 66" | a, b, "a b" | é, mile, "é mile" | \xff.
  // Splitting "’" into its three bytes would give 9 terms for the first pair instead of 5.
  EXPECT_EQ(index.vocabulary_size(), 15u);
  auto nb = index.neighbors("DON\u2019T", 5);
  ASSERT_EQ(indices(nb), (std::vector<std::size_t>{0, 1}));
  EXPECT_NEAR(nb[0].similarity, 1.0, kSimTolerance);
  nb = index.neighbors("Route 66", 5);
  ASSERT_EQ(indices(nb), (std::vector<std::size_t>{2, 3}));
  EXPECT_NEAR(nb[1].similarity, 1.0, kSimTolerance);
  nb = index.neighbors("A B", 5);
  ASSERT_EQ(indices(nb), (std::vector<std::size_t>{4, 5}));
  EXPECT_NEAR(nb[0].similarity, 1.0, kSimTolerance);
  EXPECT_EQ(indices(index.neighbors("\u00c9MILE", 5)), (std::vector<std::size_t>{6, 7}));
  EXPECT_EQ(indices(index.neighbors("x\xffy", 5)), (std::vector<std::size_t>{8, 9}));
}

// N = 20: t (df 3: docs 0-2), u and "t u" (df 2: docs 0, 2) are kept. Doc 1 is t alone, so t
// weighs 1 there; docs 0 and 2 have the same kept terms, so t (and u) weigh the same in both.
std::vector<std::string> pruning_corpus() {
  std::vector<std::string> docs = {"t u", "t", "t u v"};
  for (const char* w : {"wa", "wb", "wc", "wd", "we", "wf", "wg", "wh", "wi", "wj", "wk", "wl",
                        "wm", "wn", "wo", "wp", "wq"}) {
    docs.emplace_back(w);
  }
  return docs;
}

TEST(TfidfIndex, PrunedPostingsKeepTheDocumentsWhereATermWeighsMost) {
  const auto docs = pruning_corpus();
  const TfidfIndex exact(docs), cap2(docs, 2), cap1(docs, 1), cap3(docs, 3);
  // Doc 0 is (t, u, "t u") with idf ln(20/3), ln(10), ln(10), normalised.
  const double t_idf = std::log(20.0 / 3.0), u_idf = std::log(10.0);
  const double t_in_doc0 = t_idf / std::sqrt(t_idf * t_idf + 2 * u_idf * u_idf);
  EXPECT_EQ(cap2.max_postings_per_term(), 2u);
  EXPECT_EQ(indices(exact.neighbors("t", 10)), (std::vector<std::size_t>{1, 0, 2}));
  // Over the cap: the heaviest documents (ties: lower index) keep their postings.
  EXPECT_EQ(indices(cap2.neighbors("t", 10)), (std::vector<std::size_t>{1, 0}));
  EXPECT_EQ(indices(cap1.neighbors("t", 10)), (std::vector<std::size_t>{1}));
  EXPECT_EQ(indices(cap2.neighbors("u", 10)), (std::vector<std::size_t>{0, 2}));  // df <= cap
  EXPECT_EQ(indices(cap1.neighbors("u", 10)), (std::vector<std::size_t>{0}));
  // A document keeps its full-index vector: where every shared term kept its posting the
  // similarity is the exact cosine; elsewhere it is the share of the kept postings.
  const auto e = exact.neighbors("t u", 10);
  const auto c = cap1.neighbors("t u", 10);
  ASSERT_EQ(indices(e), (std::vector<std::size_t>{0, 2, 1}));
  ASSERT_EQ(indices(c), (std::vector<std::size_t>{0, 1}));  // doc 2 lost t, u and "t u"
  EXPECT_NEAR(c[1].similarity, e[2].similarity, kSimTolerance);  // doc 1 shares only t
  // Doc 0 kept u and "t u" but lost t to doc 1: its cosine less t's product.
  EXPECT_NEAR(c[0].similarity, e[0].similarity - c[1].similarity * t_in_doc0, kSimTolerance);
  // A cap at or above every df is the exact index.
  for (const char* q : {"t", "u", "t u", "u t v"}) {
    const auto a = exact.neighbors(q, 10);
    const auto b = cap3.neighbors(q, 10);
    ASSERT_EQ(indices(a), indices(b)) << q;
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].similarity, b[i].similarity) << q;
  }
  EXPECT_THROW(TfidfIndex(docs, 65536), std::invalid_argument);
}

// The best k are exactly the first k of every reached document sorted (similarity, then lower
// index), for any k and skip: on a corpus with repeated documents (exact ties), near-ties and
// many documents per bucket of the selection's histogram.
TEST(TfidfIndex, BestKIsThePrefixOfTheFullRanking) {
  std::vector<std::string> docs;
  Lcg next{12345};
  for (std::size_t d = 0; d < 600; ++d) {
    if (d % 7 == 3) {
      docs.push_back(docs[next() % docs.size()]);  // a repeat: ties at equal similarity
      continue;
    }
    std::string doc;
    const std::size_t words = 3 + next() % 12;
    for (std::size_t w = 0; w < words; ++w) {
      doc += 'w';
      doc += std::to_string(next() % 60);
      doc += ' ';
    }
    docs.push_back(doc);
  }
  for (std::size_t cap : {std::size_t{0}, std::size_t{16}}) {
    const TfidfIndex index(docs, cap);
    for (std::size_t q = 0; q < 60; ++q) {
      const std::string& query = docs[q * 10];
      const auto all = index.neighbors(query, docs.size());
      ASSERT_GT(all.size(), 25u) << q;
      for (std::size_t r = 1; r < all.size(); ++r) {
        ASSERT_TRUE(all[r - 1].similarity > all[r].similarity ||
                    (all[r - 1].similarity == all[r].similarity && all[r - 1].index < all[r].index));
      }
      for (std::size_t k : {1, 2, 7, 25, 50, 59}) {
        const auto best = index.neighbors(query, k);
        ASSERT_EQ(best.size(), std::min(k, all.size()));
        for (std::size_t r = 0; r < best.size(); ++r) {
          ASSERT_EQ(best[r].index, all[r].index) << "q " << q << " k " << k << " r " << r;
          ASSERT_EQ(best[r].similarity, all[r].similarity);
        }
      }
      auto odd = [](std::size_t i) { return i % 2 == 1; };
      const auto even = index.neighbors(query, 20, odd);
      std::vector<std::size_t> expected;
      for (const Neighbor& n : all) {
        if (!odd(n.index) && expected.size() < 20) expected.push_back(n.index);
      }
      ASSERT_EQ(indices(even), expected) << q;
    }
  }
}

// The brute-force search the index must agree with: every document's TF-IDF vector in double
// precision from tfidf_terms' counts (kept: 2 <= df < 0.2 N; weight (1 + ln tf) ln(N / df),
// L2-normalised), the cosine with the query for every document, sorted by similarity then
// index, the first k with a positive similarity.
std::vector<Neighbor> brute_force(const std::vector<std::string>& docs, const std::string& query,
                                  std::size_t k) {
  const double n = static_cast<double>(docs.size());
  std::vector<TfidfTerms> terms(docs.size());
  std::map<uint64_t, double> df;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    tfidf_terms(docs[d], terms[d]);
    for (const auto& [key, count] : terms[d].counts) df[key] += 1.0;
  }
  auto vector_of = [&](const TfidfTerms& t) {
    std::map<uint64_t, double> v;
    double norm2 = 0.0;
    for (const auto& [key, count] : t.counts) {
      const auto it = df.find(key);
      if (it == df.end() || it->second < 2.0 || it->second >= 0.2 * n) continue;
      const double w = (1.0 + std::log(static_cast<double>(count))) * std::log(n / it->second);
      v[key] = w;
      norm2 += w * w;
    }
    for (auto& [key, w] : v) w /= std::sqrt(norm2);
    return v;
  };
  TfidfTerms q;
  tfidf_terms(query, q);
  const auto qv = vector_of(q);
  std::vector<Neighbor> all;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    double dot = 0.0;
    for (const auto& [key, w] : vector_of(terms[d])) {
      if (const auto it = qv.find(key); it != qv.end()) dot += w * it->second;
    }
    if (dot > 0.0) all.push_back({dot, d});
  }
  std::sort(all.begin(), all.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.similarity != b.similarity ? a.similarity > b.similarity : a.index < b.index;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

// Random documents of a few lines over a small vocabulary (so terms have every df), with
// repeats (exact ties). Field 1 is each document's first line.
std::vector<std::vector<std::string>> two_field_corpus(std::size_t n_docs = 400) {
  std::vector<std::string> docs, heads;
  Lcg next{987654321};
  for (std::size_t d = 0; d < n_docs; ++d) {
    if (d % 9 == 4) {
      const std::size_t r = next() % docs.size();
      docs.push_back(docs[r]);
      heads.push_back(heads[r]);
      continue;
    }
    std::string doc, head;
    const std::size_t lines = 1 + next() % 3;
    for (std::size_t l = 0; l < lines; ++l) {
      const std::size_t words = 2 + next() % 8;
      for (std::size_t w = 0; w < words; ++w) {
        doc += 'w';
        doc += std::to_string(next() % 90);
        if (w + 1 < words) doc += ' ';
      }
      if (l == 0) head = doc;
      if (l + 1 < lines) doc += "\n";
    }
    docs.push_back(doc);
    heads.push_back(head);
  }
  return {docs, heads};
}

// Same neighbours as the brute force's first k (`every`: its full ranking), similarities to
// float tolerance; a different document at a rank only where the brute force scores the two
// equally (a tie within float rounding).
void expect_brute_force(const std::vector<Neighbor>& every, const std::vector<Neighbor>& got,
                        std::size_t k) {
  ASSERT_EQ(got.size(), std::min(k, every.size()));
  for (std::size_t r = 0; r < got.size(); ++r) {
    EXPECT_NEAR(got[r].similarity, every[r].similarity, kSimTolerance) << "rank " << r;
    if (got[r].index == every[r].index) continue;
    const auto it = std::find_if(every.begin(), every.end(),
                                 [&](const Neighbor& n) { return n.index == got[r].index; });
    ASSERT_NE(it, every.end());
    EXPECT_NEAR(it->similarity, every[r].similarity, kSimTolerance) << "rank " << r;
  }
}

TEST(TfidfIndex, AgreesWithBruteForceInEveryField) {
  const auto fields = two_field_corpus();
  const TfidfIndex one(fields[0]);
  const TfidfIndex two(fields, 0);
  ASSERT_EQ(two.field_count(), 2u);
  EXPECT_EQ(two.vocabulary_size(0), one.vocabulary_size());
  TfidfTerms all, head;
  TfidfTermSlots slots;
  for (std::size_t q = 0; q < 40; ++q) {
    const std::string& query = fields[0][q * 7];
    const std::size_t head_bytes = fields[1][q * 7].size();
    tfidf_terms(query, head_bytes, all, head);
    two.find(all, slots);
    const auto every_doc = brute_force(fields[0], query, fields[0].size());
    const auto every_head = brute_force(fields[1], fields[1][q * 7], fields[1].size());
    ASSERT_GT(every_doc.size(), 50u);
    for (std::size_t k : {1, 5, 25, 50, 120}) {
      SCOPED_TRACE("query " + std::to_string(q) + " k " + std::to_string(k));
      const auto single = one.neighbors(query, k);
      expect_brute_force(every_doc, single, k);
      // Field 0 of the two-field index is the one-field index, bit for bit.
      const auto f0 = two.neighbors(all, slots, 0, k);
      ASSERT_EQ(indices(f0), indices(single)) << q;
      for (std::size_t r = 0; r < f0.size(); ++r) ASSERT_EQ(f0[r].similarity, single[r].similarity);
      // Field 1 searched with the head of the same terms (one lookup) is the brute force over
      // the heads.
      expect_brute_force(every_head, two.neighbors(head, slots, 1, k), k);
    }
  }
}

// With pruned postings the fields keep their own lists: field 1 of a two-field index answers as
// a one-field index over the heads, bit for bit.
TEST(TfidfIndex, PrunedFieldsAnswerAsTheirOwnIndexes) {
  const auto fields = two_field_corpus();
  const TfidfIndex heads(fields[1], 8);
  const TfidfIndex two(fields, 8);
  TfidfTerms all, head;
  TfidfTermSlots slots;
  for (std::size_t q = 0; q < 40; ++q) {
    tfidf_terms(fields[0][q * 5], fields[1][q * 5].size(), all, head);
    two.find(all, slots);
    for (std::size_t k : {1, 25, 50}) {
      const auto want = heads.neighbors(head, k);
      const auto got = two.neighbors(head, slots, 1, k);
      ASSERT_EQ(indices(got), indices(want)) << q;
      for (std::size_t r = 0; r < got.size(); ++r) ASSERT_EQ(got[r].similarity, want[r].similarity);
    }
  }
}

// The score floor (only reached documents at or above it go to the selection) leaves the
// answer as the full search gives it, bit for bit: a `skip` that skips nothing turns it off.
// The corpus has repeated documents (exact ties at the cut), with and without pruned postings.
TEST(TfidfIndex, ScoreFloorAnswersAsTheFullSearch) {
  // Large enough that most searches reach more than kFloorMinReachedPerK documents per k, the
  // searches that estimate a floor (counted below).
  const auto fields = two_field_corpus(3000);
  auto skip_none = [](std::size_t) { return false; };
  for (std::size_t cap : {0, 8}) {
    const TfidfIndex index(fields, cap);
    TfidfTerms all, head;
    TfidfTermSlots slots;
    std::size_t ties = 0, floored_searches = 0;
    for (std::size_t q = 0; q < 80; ++q) {
      tfidf_terms(fields[0][q * 5], fields[1][q * 5].size(), all, head);
      index.find(all, slots);
      for (std::size_t k : {1, 5, 25, 50}) {
        for (std::size_t field : {0, 1}) {
          SCOPED_TRACE("cap " + std::to_string(cap) + " query " + std::to_string(q) + " k " +
                       std::to_string(k) + " field " + std::to_string(field));
          const TfidfTerms& terms = field == 0 ? all : head;
          const auto floored = index.neighbors(terms, slots, field, k);
          const auto full = index.neighbors(terms, slots, field, k, skip_none);
          const std::size_t reached =
              index.neighbors(terms, slots, field, fields[0].size(), skip_none).size();
          floored_searches += k > 1 && TfidfIndex::wants_floor(reached, k);
          ASSERT_EQ(indices(floored), indices(full));
          for (std::size_t r = 0; r < full.size(); ++r) {
            ASSERT_EQ(floored[r].similarity, full[r].similarity) << "rank " << r;
            ties += r > 0 && full[r].similarity == full[r - 1].similarity;
          }
        }
      }
    }
    EXPECT_GT(ties, 0u) << "cap " << cap;
    EXPECT_GT(floored_searches, 100u) << "cap " << cap;
  }
}

// An index's own terms() drops what its filter turns away and answers as tfidf_terms' terms,
// to the last bit, in both fields and for the head.
TEST(TfidfIndex, ItsOwnTermsAnswerAsAllTheTerms) {
  const auto fields = two_field_corpus();
  for (std::size_t cap : {0, 8}) {
    const TfidfIndex index(fields, cap);
    TfidfTerms all, head, own_all, own_head;
    TfidfTermSlots slots, own_slots;
    std::size_t dropped = 0;
    for (std::size_t q = 0; q < 60; ++q) {
      const std::string text = fields[0][q * 3] + " unseen words here";
      const std::size_t head_bytes = fields[1][q * 3].size();
      tfidf_terms(text, head_bytes, all, head);
      index.terms(text, head_bytes, own_all, own_head);
      ASSERT_LE(own_all.counts.size(), all.counts.size());
      ASSERT_LE(own_head.counts.size(), own_all.counts.size());
      dropped += all.counts.size() - own_all.counts.size();
      index.find(all, slots);
      index.find(own_all, own_slots);
      for (std::size_t field : {0, 1}) {
        for (const bool use_head : {false, true}) {
          const auto want = index.neighbors(use_head ? head : all, slots, field, 20);
          const auto got = index.neighbors(use_head ? own_head : own_all, own_slots, field, 20);
          ASSERT_EQ(indices(got), indices(want)) << "query " << q << " field " << field;
          for (std::size_t r = 0; r < got.size(); ++r) {
            ASSERT_EQ(got[r].similarity, want[r].similarity);
          }
        }
      }
    }
    EXPECT_GT(dropped, 60u) << "cap " << cap;  // at least the unseen words
  }
}

// A `skip` that throws leaves the per-thread scratch clean: the next query's scores are its own.
TEST_F(SmallCorpus, ThrowingSkipLeavesNoScoresBehind) {
  const auto before = index_.neighbors("alpha beta", 10);
  EXPECT_THROW(index_.neighbors("alpha beta", 10,
                                [](std::size_t) -> bool { throw std::runtime_error("skip"); }),
               std::runtime_error);
  const auto after = index_.neighbors("alpha beta", 10);
  ASSERT_EQ(indices(after), indices(before));
  for (std::size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].similarity, before[i].similarity);
}

// One pass gives the terms of a text and of its head, as two separate passes would.
TEST(TfidfTerms, HeadTermsAreThoseOfThePrefix) {
  const std::string text = "Which of these is RIGHT?\nA. 3 apples\nB. caf\u00e9 au lait\nC. x\xffy";
  for (std::size_t head_bytes : {std::size_t{0}, text.find('\n'), text.find("\nB"), text.size()}) {
    TfidfTerms all, head, all_alone, prefix;
    tfidf_terms(text, head_bytes, all, head);
    tfidf_terms(text, all_alone);
    tfidf_terms(std::string_view(text).substr(0, head_bytes), prefix);
    EXPECT_EQ(all.counts, all_alone.counts) << head_bytes;
    EXPECT_EQ(head.counts, prefix.counts) << head_bytes;
  }
  TfidfTerms terms;
  tfidf_terms("a b a b a", terms);
  // a, b, "a b" (twice), "b a" (twice), a three times, b twice.
  std::size_t total = 0;
  for (const auto& [key, count] : terms.counts) total += count;
  EXPECT_EQ(terms.counts.size(), 4u);
  EXPECT_EQ(total, 9u);
}

// Each MMLU prompt is its own nearest neighbour (similarity 1) unless skipped; results are
// sorted and bounded. Prints the time per query (informative, not asserted).
TEST(TfidfIndex, MmluPromptsFindThemselves) {
  const CsvTable table = read_csv_file(TRIAGE_SOURCE_DIR "/data/routellm/mmlu.csv");
  const auto prompt_col = table.column("prompt");
  ASSERT_TRUE(prompt_col.has_value());
  std::vector<std::string> docs;
  for (std::size_t r = 0; r < table.rows.size() && docs.size() < 7800; ++r) {
    docs.push_back(table.rows[r][*prompt_col].value_or(""));
  }
  const TfidfIndex index(docs);
  EXPECT_GT(index.vocabulary_size(), 10000u);
  const std::size_t queries = 1000;
  const auto start = std::chrono::steady_clock::now();
  std::size_t returned = 0;
  for (std::size_t i = 0; i < queries; ++i) {
    const auto nb = index.neighbors(docs[i], 10, [i](std::size_t j) { return j == i; });
    returned += nb.size();
    ASSERT_LE(nb.size(), 10u);
    for (std::size_t r = 0; r < nb.size(); ++r) {
      ASSERT_NE(nb[r].index, i);
      ASSERT_GT(nb[r].similarity, 0.0);
      ASSERT_LE(nb[r].similarity, 1.0 + kSimTolerance);
      if (r > 0) {
        ASSERT_GE(nb[r - 1].similarity, nb[r].similarity);
      }
    }
  }
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      queries;
  std::printf("[ info ] neighbors(k=10) over %zu MMLU prompts: %.1f us/query (%zu results)\n",
              docs.size(), us, returned);
  for (std::size_t i = 0; i < 200; ++i) {
    const auto nb = index.neighbors(docs[i], 1);
    ASSERT_EQ(nb.size(), 1u) << i;
    EXPECT_NEAR(nb[0].similarity, 1.0, kSimTolerance) << i;
    EXPECT_LE(nb[0].index, i) << i;  // itself, or an identical earlier prompt
  }
}


// The nearest document (k = 1, no skip) is found by a pruned search (tfidf_knn.cc, nearest());
// with a `skip` that skips nothing the full search runs. On the intent model's own case, every
// CLINC150 validation query against the training utterances with every posting, the two must
// give the same document and the same similarity bit for bit.
TEST(TfidfIndex, NearestOverClinc150AnswersAsTheFullSearch) {
  auto texts = [](const char* file) {
    std::ifstream in(std::string(TRIAGE_SOURCE_DIR "/data/clinc150/") + file);
    std::stringstream buf;
    buf << in.rdbuf();
    std::vector<std::string> out;
    for (auto& e : parse_clinc150_jsonl(buf.str(), file)) out.push_back(std::move(e.text));
    return out;
  };
  const std::vector<std::string> docs = texts("train.jsonl");
  const std::vector<std::string> queries = texts("val.jsonl");
  ASSERT_GT(docs.size(), 15000u);
  ASSERT_GT(queries.size(), 3000u);
  const TfidfIndex index(docs);
  auto skip_none = [](std::size_t) { return false; };
  std::size_t found = 0;
  for (const std::string& q : queries) {
    const auto pruned = index.neighbors(q, 1);
    const auto full = index.neighbors(q, 1, skip_none);
    ASSERT_EQ(indices(pruned), indices(full)) << q;
    if (!full.empty()) {
      ASSERT_EQ(pruned[0].similarity, full[0].similarity) << q;
      ++found;
    }
  }
  EXPECT_GT(found, queries.size() * 9 / 10);
}

// The same on a corpus built to tie and to prune: every document shares common words (long
// lists the pruned search should not need) and many are repeated (equal similarities, where
// the lower index must win).
TEST(TfidfIndex, NearestBreaksTiesAsTheFullSearch) {
  std::vector<std::string> docs;
  Lcg next{777};
  for (std::size_t d = 0; d < 2000; ++d) {
    if (d % 5 == 2) {
      docs.push_back(docs[next() % docs.size()]);
      continue;
    }
    std::string doc = d % 3 == 0 ? "what is my " : "how do i ";
    for (std::size_t w = 0, words = 2 + next() % 6; w < words; ++w) {
      // Piece by piece: GCC 12 warns (-Wrestrict, falsely) on the chained operator+.
      doc += 'r';
      doc += std::to_string(next() % 400);
      doc += ' ';
    }
    docs.push_back(doc);
  }
  const TfidfIndex index(docs);
  auto skip_none = [](std::size_t) { return false; };
  std::size_t ties = 0;
  for (std::size_t q = 0; q < 400; ++q) {
    const std::string query = q % 2 == 0 ? docs[q * 5] : docs[q * 5] + " what r" + std::to_string(q);
    const auto pruned = index.neighbors(query, 1);
    const auto full = index.neighbors(query, 1, skip_none);
    ASSERT_EQ(indices(pruned), indices(full)) << query;
    ASSERT_EQ(pruned.empty(), full.empty());
    if (!full.empty()) {
      ASSERT_EQ(pruned[0].similarity, full[0].similarity) << query;
    }
    const auto two = index.neighbors(query, 2, skip_none);
    ties += two.size() == 2 && two[0].similarity == two[1].similarity;
  }
  EXPECT_GT(ties, 20u);
}

}  // namespace
}  // namespace triage::ml

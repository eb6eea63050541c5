#pragma once
// In-process BM25 (Okapi, Lucene's non-negative IDF) over a small set of passages: the
// retrieval half of retrieval-generation. Built once at start-up, then read-only: search() is
// const and thread-safe. Deterministic: ties are broken by passage order.
//
// Tokenization follows ml::normalize_text (norm-v1: ASCII lowercased, punctuation split off)
// and then keeps only tokens with at least one ASCII letter or digit (so "Card's" and "card"
// share the token "card" the way the intent classifier sees them), drops a fixed list of
// English function words ("i", "can", "to", "my"...) and folds a plural -s ("cards" -> "card",
// not "business"). No other stemming.
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace triage::ml {

// Search tokens of `text` (see above). Pure.
std::vector<std::string> bm25_tokens(std::string_view text);

struct Bm25Params {
  double k1 = 1.2;  // term-frequency saturation; 0 = presence only
  double b = 0.75;  // length normalisation; 0 = none, 1 = full
};

struct Bm25Hit {
  size_t passage = 0;  // index in insertion order
  double score = 0.0;
};

class Bm25Index {
 public:
  explicit Bm25Index(Bm25Params params = {}) : params_(params) {}

  // Adds a passage (its indexed text); returns its index. Call before search().
  size_t add(std::string_view text);
  size_t size() const { return docs_.size(); }

  // The best `k` passages with a score > 0, best first; equal scores keep passage order.
  // A query word that occurs n times counts n times.
  std::vector<Bm25Hit> search(std::string_view query, size_t k) const;

 private:
  struct Doc {
    std::unordered_map<std::string, int> tf;
    size_t length = 0;
  };
  Bm25Params params_;
  std::vector<Doc> docs_;
  std::unordered_map<std::string, size_t> df_;  // passages containing the term
  size_t total_length_ = 0;
};

}  // namespace triage::ml

#pragma once
// Nearest neighbours by TF-IDF cosine over a fixed set of documents (the training prompts of a
// router), for "what happened on questions like this one" features. Built once; neighbors() is
// const and thread-safe.
//
// Tokens: the text lower-cased, then runs of letters [a-z]+, runs of digits [0-9]+, and every
// other single non-space character (a UTF-8 code point, so "’" is one token as in the Python
// reference; Unicode spaces such as U+00A0 separate; Latin-1, Greek and Cyrillic capitals are
// lower-cased; a byte that is not valid UTF-8 is a token of its own); terms are the tokens and
// each pair of adjacent tokens ("a b"). A term is kept when its document frequency df
// satisfies 2 <= df < 0.2 * N (N documents). Weight of a term in a document:
// (1 + ln tf) * ln(N / df), then the vector is L2-normalised; similarity is the dot product
// (cosine). Queries use the same rule with the documents' df (terms not kept are ignored).
// Terms are identified by the FNV-1a-64 hash of their text (no string per term and query;
// two distinct terms would have to collide, odds about 1e-9 for 1e5 terms).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace triage::ml {

struct Neighbor {
  double similarity = 0.0;  // > 0
  std::size_t index = 0;    // into the documents given to the constructor
};

class TfidfIndex {
 public:
  explicit TfidfIndex(const std::vector<std::string>& documents);

  // The k most similar documents sharing at least one kept term with `text`, most similar
  // first (ties: lower index first), skipping those for which `skip(index)` is true. Fewer
  // than k when fewer share a term.
  std::vector<Neighbor> neighbors(std::string_view text, std::size_t k,
                                  const std::function<bool(std::size_t)>& skip = {}) const;

  std::size_t size() const { return n_docs_; }
  std::size_t vocabulary_size() const { return idf_.size(); }

 private:
  // Sparse L2-normalised vector: (term id, weight), sorted by term id.
  using SparseVector = std::vector<std::pair<uint32_t, float>>;
  SparseVector vectorize(std::string_view text) const;

  std::size_t n_docs_ = 0;
  // term -> id; idf by id; postings by id: (document, weight)
  std::unordered_map<uint64_t, uint32_t> term_ids_;  // term key (FNV-1a-64 of its text) -> id
  std::vector<double> idf_;
  std::vector<std::vector<std::pair<uint32_t, float>>> postings_;
};

}  // namespace triage::ml

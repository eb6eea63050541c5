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
//
// Pruned postings (max_postings_per_term > 0): a term whose df exceeds the cap keeps only the
// cap documents in which it weighs most (ties: lower index). Document vectors, their norms and
// the idf are those of the full index; a document dropped from a term's list just gets no
// share of that term, so its similarity is a lower bound of the cosine. A query then reads at
// most (its kept terms) x cap postings: common terms, which hold most postings and carry the
// least weight, cost no more than rare ones. 0 keeps every posting (the exact cosine).
//
// Fields: one index can hold several texts per document (a prompt and its question stem), each
// field an index of its own (df, kept terms, vectors, postings) behind one term table, so a
// query's terms are looked up once however many fields it searches (TfidfTermSlots).
#include <cstddef>
#include <cstdint>
#include <array>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace triage::ml {

struct Neighbor {
  double similarity = 0.0;  // > 0
  std::size_t index = 0;    // into the documents given to the constructor
};

// The terms of a text with their counts, in order of first occurrence: what a search reads of
// its text.
// Computed once, a text (and a head of it) can be searched in several indexes.
struct TfidfTerms {
  std::vector<std::pair<uint64_t, uint32_t>> counts;  // (term key, occurrences)
};

// The terms of `text`.
void tfidf_terms(std::string_view text, TfidfTerms& all);
// The terms of `text` and, from the same pass, of its first `head_bytes` bytes, which must end
// where a token cannot continue (text[head_bytes] is whitespace, or head_bytes >= the size).
// head.counts holds the first terms of all.counts (same keys, same order), with the counts
// of the head alone.
void tfidf_terms(std::string_view text, std::size_t head_bytes, TfidfTerms& all,
                 TfidfTerms& head);

// Where a query's terms sit in an index's term table (TfidfIndex::find): looked up once, then
// searched in any field of that index, for the terms or for a head of them (the `head` of the
// same tfidf_terms pass). Valid for the index that filled it, until it is filled again.
class TfidfTermSlots {
 private:
  friend class TfidfIndex;
  std::vector<std::pair<uint32_t, uint32_t>> found_;  // (position in counts, slot), by position
};

class TfidfIndex {
 public:
  // One field. Throws std::invalid_argument beyond its 16-bit counts: 327,680 documents or
  // more, or a cap above 65,535.
  explicit TfidfIndex(const std::vector<std::string>& documents,
                      std::size_t max_postings_per_term = 0);
  // fields[f][d] is field f of document d (every field has the same documents, in the same
  // order); one or two fields. Searches name the field; the term table is shared.
  TfidfIndex(std::span<const std::vector<std::string>> fields, std::size_t max_postings_per_term);

  // The k most similar documents sharing at least one kept posting with `text` (in field 0),
  // most similar first (ties: lower index first), skipping those for which `skip(index)` is
  // true (`skip` must not call neighbors()). Fewer than k when fewer share one.
  // Cost: one pass over the query's tokens, one hash probe per distinct term, and the postings
  // of its kept terms; per-thread scratch is reused, so a call allocates only its result.
  std::vector<Neighbor> neighbors(std::string_view text, std::size_t k,
                                  const std::function<bool(std::size_t)>& skip = {}) const;
  // The same for terms counted by tfidf_terms.
  std::vector<Neighbor> neighbors(const TfidfTerms& terms, std::size_t k,
                                  const std::function<bool(std::size_t)>& skip = {}) const;
  // tfidf_terms(text, head_bytes, all, head) without the terms this index cannot hold (its
  // filter turns them away before they are counted): searches of this index answer the same.
  void terms(std::string_view text, std::size_t head_bytes, TfidfTerms& all,
             TfidfTerms& head) const;
  // Looks up the terms in the table once (for neighbors() below).
  void find(const TfidfTerms& terms, TfidfTermSlots& slots) const;
  // The same search in `field`, for `terms` found by find(): the terms given to find, or the
  // head counted with them by tfidf_terms (terms found beyond terms.counts are ignored).
  std::vector<Neighbor> neighbors(const TfidfTerms& terms, const TfidfTermSlots& slots,
                                  std::size_t field, std::size_t k,
                                  const std::function<bool(std::size_t)>& skip = {}) const;

  // A search without `skip` reaching more than this many documents per k first estimates a
  // score floor (score_floor, a sample of up to 2k documents) to spare the selection the
  // documents below it; below that the sample costs more than it spares (callgrind, MMLU
  // decisions within a category: 92k -> 83k instructions without it; a search over all 7,797
  // references reaches ~60 per k and keeps it). Either way the answer is the same.
  static constexpr std::size_t kFloorMinReachedPerK = 8;
  static bool wants_floor(std::size_t n_reached, std::size_t k) {
    return n_reached > kFloorMinReachedPerK * k;
  }

  std::size_t size() const { return n_docs_; }
  std::size_t field_count() const { return field_terms_.size(); }
  // Kept terms of a field.
  std::size_t vocabulary_size(std::size_t field = 0) const { return field_terms_.at(field); }
  std::size_t max_postings_per_term() const { return max_postings_per_term_; }

 private:
  // A term in the table: its postings in every field, one list after the other, from `begin`
  // (by document), and its df per field (idf = idf_by_df_[df]; 0: not kept in that field). A
  // list holds df postings, or the cap when df is above it. 16 bytes, so a lookup is one cache
  // miss and the postings the next; a slot is empty when every df is 0.
  struct Slot {
    uint64_t key = 0;
    uint32_t begin = 0;
    std::array<uint16_t, 2> df{};
  };
  // A field's postings of a term: [begin, begin + count).
  struct FieldEntry {
    uint32_t begin;
    uint16_t count;
    uint16_t df;
  };
  // A term of a query vector: its slot, its postings in the field searched and its weight.
  struct TermWeight {
    uint32_t slot;
    uint32_t begin;
    uint32_t count;
    float weight;
  };
  struct Scratch;  // a query's working memory, one per thread (ml/tfidf_scratch.h)

  FieldEntry entry(std::size_t slot, std::size_t field) const;
  uint64_t slot_key(std::size_t slot) const { return table_[slot].key; }
  bool slot_used(std::size_t slot) const { return (table_[slot].df[0] | table_[slot].df[1]) != 0; }
  std::size_t find_slot(uint64_t key) const;  // the slot of a kept term, or an empty one
  // The L2-normalised vector of the found terms over those kept in `field`, in the terms'
  // order, into s.vector (weights rounded to float, as the postings store them).
  void vectorize(const TfidfTerms& terms, const TfidfTermSlots& slots, std::size_t field,
                 Scratch& s) const;
  // The nearest document (k = 1, no skip) by pruned search: see ml/tfidf_nearest.cc.
  template <typename Doc>
  void nearest(const Doc* docs, std::size_t field, Scratch& s, std::vector<Neighbor>& out) const;
  // Adds up the postings of s.vector into s.scores, listing the documents reached in
  // s.first_reached; returns how many.
  template <typename Doc>
  std::size_t accumulate(const Doc* docs, Scratch& s) const;
  // After accumulate: a score at or below the k-th best (0 when none is found cheaply).
  template <typename Doc>
  double score_floor(const Doc* docs, std::size_t k, Scratch& s) const;
  // After accumulate: the `n_reached` documents it listed that score at least `floor` into
  // s.reached (in the order they were reached); clears s.scores. Returns how many.
  std::size_t reached(std::size_t n_reached, double floor, Scratch& s) const;
  static void select_best(Scratch& s, std::size_t n, std::size_t k, std::vector<Neighbor>& out);
  std::size_t home_slot(uint64_t key) const { return (key * 0x9e3779b97f4a7c15ull) >> slot_shift_; }
  // False only for a term that is not kept (filter_ has a bit per low bits of a kept key; the
  // home slot uses the high bits of a product, so the two are independent).
  bool maybe_kept(uint64_t key) const {
    const uint64_t bit = key & (filter_.size() * 64 - 1);
    return (filter_[bit / 64] >> (bit % 64)) & 1;
  }

  std::size_t n_docs_ = 0;
  std::size_t max_postings_per_term_ = 0;
  std::vector<std::size_t> field_terms_;  // kept terms per field
  // The term table: open addressing with linear probing over a power-of-two table at most 3/4
  // full, keyed by the term's FNV-1a-64.
  std::vector<Slot> table_;
  std::size_t slot_mask_ = 0;
  std::vector<uint64_t> filter_;  // a power-of-two number of bits, at least 64
  int slot_shift_ = 60;  // 64 - log2(slots)
  std::vector<double> idf_by_df_;  // ln(N / df)
  // Postings of every field and term, as two parallel arrays: the document (16 bits when
  // there are at most 65,536 documents, else 32: a list's documents then fill fewer cache
  // lines) and its weight, the term's weight in the L2-normalised document vector.
  std::vector<uint16_t> docs16_;
  std::vector<uint32_t> docs32_;
  std::vector<float> weights_;
  // The heaviest weight of each list, by slot * field_count() + field (0 for no list): a
  // term's most a document can gain from it is its query weight times this.
  std::vector<float> list_max_;
};

}  // namespace triage::ml

#pragma once
// Internal to ml/tfidf_knn.cc and ml/tfidf_nearest.cc: a search's per-thread working memory
// and the helpers both files use. Not part of the TfidfIndex interface.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "ml/tfidf_knn.h"

namespace triage::ml {

namespace tfidf_detail {

// Buckets of TfidfIndex::select_best (tfidf_knn.cc).
inline constexpr uint32_t kBucketCount = 1024;

// Asks for every cache line of a posting list (its documents and its weights): the lists are
// scattered over an index larger than the caches, and the hardware prefetcher only learns a
// list after its first misses.
template <typename Doc>
void prefetch_list(const Doc* docs, const float* weights, std::size_t count) {
  for (const char* line = reinterpret_cast<const char*>(docs),
                  *end = reinterpret_cast<const char*>(docs + count);
       line < end; line += 64) {
    __builtin_prefetch(line);
  }
  for (const char* line = reinterpret_cast<const char*>(weights),
                  *end = reinterpret_cast<const char*>(weights + count);
       line < end; line += 64) {
    __builtin_prefetch(line);
  }
}

// Adds one posting list, weighted by the query's `x`, into `scores` (by document; +0.0 where
// nothing was added yet) and lists in first[n...] each document whose score leaves +0.0 (every
// product is positive): written at every posting, counted the first time, so no branch.
// `seen(d, score)` is called with each new score. Returns the new count of listed documents.
template <typename Doc, typename Seen>
std::size_t add_postings(double x, const Doc* doc, const float* weight, std::size_t count,
                         double* scores, uint32_t* first, std::size_t n, Seen&& seen) {
  for (std::size_t p = 0; p < count; ++p) {
    const std::size_t d = doc[p];
    const double before = scores[d];
    const double after = before + x * static_cast<double>(weight[p]);
    scores[d] = after;
    first[n] = static_cast<uint32_t>(d);
    n += std::bit_cast<uint64_t>(before) == 0;
    seen(d, after);
  }
  return n;
}

}  // namespace tfidf_detail

// Working memory of one query, reused by every call on a thread. `scores` is all zeros
// between calls: a query adds into it and sets the entries it touched back to zero; so are
// the histograms of select_best.
struct TfidfIndex::Scratch {
  TfidfTerms terms;
  TfidfTermSlots slots;
  std::vector<std::pair<TermWeight, double>> weights;  // (term, weight before normalising)
  std::vector<TermWeight> vector;
  std::vector<double> scores;     // by document
  std::vector<uint32_t> first_reached;  // documents in the order a posting first reached them
  std::vector<Neighbor> reached;  // the documents a posting reached (reached())
  std::vector<uint16_t> buckets;  // select_best: bucket of reached[i]
  std::vector<uint32_t> bucket_counts = std::vector<uint32_t>(tfidf_detail::kBucketCount, 0);
  std::vector<uint32_t> sample = std::vector<uint32_t>(128);  // score_floor: 2k documents
  std::vector<uint64_t> seen;     // score_floor: a bit per sampled document, zero between calls
  // nearest():
  std::vector<uint32_t> order;    // positions in `vector`, largest bound first
  std::vector<double> bound;      // by position in `vector`
  std::vector<double> left;       // left[j]: the bounds of order[j..] added up
  std::vector<uint32_t> cand_doc;    // candidates' documents, from 1
  std::vector<double> cand_score;    // their partial scores, from 1
  std::vector<uint32_t> slot;        // by document: its place in cand_doc, 0 between calls
  std::vector<std::pair<uint32_t, double>> candidates;  // (document, score), sorted
};

}  // namespace triage::ml

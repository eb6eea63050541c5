#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ml/tfidf_knn.h"
#include "ml/tfidf_scratch.h"

namespace triage::ml {

// The nearest document without reading most postings (MaxScore, Turtle & Flood 1995, for
// k = 1): what the intent model's neighbour agreement asks for every request, over an index
// with every posting, where a query's common words ("what", "my", "how do i") hold most of the
// ~6,000 postings of its lists and decide nothing. A document gains at most a term's query
// weight times its list's heaviest weight from that term (the term's bound). In three steps:
//   1. Lists are read whole, largest bound first, into partial scores, until the bounds of the
//      lists left add up to less than the best partial score: a document none of those lists
//      reached cannot be the nearest.
//   2. The floor is the best partial score, or the exact score of the document that has it
//      when higher (the nearest scores at least that). For each list left, the reached
//      documents that can no longer reach the floor are dropped and the list's postings of the
//      others added.
//   3. The one or two left are scored exactly, adding their weights in the query vector's
//      order as accumulate() does, so the answer is the full search's bit for bit (ties: lower
//      index).
// The 1e-9 slack covers the rounding of the partial sums, which add in another order.
template <typename Doc>
void TfidfIndex::nearest(const Doc* docs, std::size_t field, Scratch& s,
                         std::vector<Neighbor>& out) const {
  const std::size_t m = s.vector.size();
  const std::size_t n_fields = field_terms_.size();
  s.order.resize(m);
  s.bound.resize(m);
  s.left.resize(m + 1);
  for (std::size_t t = 0; t < m; ++t) {
    const TermWeight& e = s.vector[t];
    s.bound[t] = static_cast<double>(e.weight) *
                 static_cast<double>(list_max_[e.slot * n_fields + field]);
    s.order[t] = static_cast<uint32_t>(t);
  }
  std::sort(s.order.begin(), s.order.end(), [&s](uint32_t a, uint32_t b) {
    return s.bound[a] != s.bound[b] ? s.bound[a] > s.bound[b] : a < b;
  });
  s.left[m] = 0.0;
  for (std::size_t j = m; j-- > 0;) s.left[j] = s.left[j + 1] + s.bound[s.order[j]];

  double* scores = s.scores.data();
  uint32_t* first = s.first_reached.data();
  std::size_t n_reached = 0;
  double best = 0.0;  // the best partial score
  uint32_t best_doc = 0;
  std::size_t read = 0;  // step 1
  {
    const TermWeight& e = s.vector[s.order[0]];
    tfidf_detail::prefetch_list(docs + e.begin, weights_.data() + e.begin, e.count);
  }
  for (; read < m && s.left[read] * (1.0 + 1e-9) >= best; ++read) {
    if (read + 1 < m) {
      const TermWeight& next = s.vector[s.order[read + 1]];
      tfidf_detail::prefetch_list(docs + next.begin, weights_.data() + next.begin, next.count);
    }
    const TermWeight& e = s.vector[s.order[read]];
    n_reached = tfidf_detail::add_postings(
        e.weight, docs + e.begin, weights_.data() + e.begin, e.count, scores, first, n_reached,
        [&best, &best_doc](std::size_t d, double after) {
          if (after > best) {  // rarely after the first list
            best = after;
            best_doc = static_cast<uint32_t>(d);
          }
        });
  }
  // Step 2. The candidates: the reached documents that can still reach the floor, with their
  // partial scores (cand_doc[i] and cand_score[i] from i = 1: entry 0 is a sink for the
  // postings of documents that are not candidates, and slot[d] says where document d is, 0
  // between calls). Every partial score in `scores` is reset for the next query.
  auto find_in = [&](const TermWeight& e, uint32_t d, const Doc*& at) -> const float* {
    const Doc* end = docs + e.begin + e.count;
    at = std::lower_bound(at, end, d, [](Doc a, uint32_t b) { return a < b; });
    return at != end && *at == d ? weights_.data() + (at - docs) : nullptr;
  };
  // Sets the scores of `cands` (ascending documents) to their exact ones: every list in the
  // query's order, from zero, as accumulate() adds them.
  auto score_exactly = [&](std::span<std::pair<uint32_t, double>> cands) {
    for (auto& c : cands) c.second = 0.0;
    for (const TermWeight& e : s.vector) {
      const double x = e.weight;
      const Doc* at = docs + e.begin;
      for (auto& [d, score] : cands) {
        if (const float* w = find_in(e, d, at)) score += x * static_cast<double>(*w);
      }
    }
  };
  const double slack = 1.0 - 1e-9;
  double reachable = 0.0;
  if (read < m) {
    std::pair<uint32_t, double> one{best_doc, 0.0};
    score_exactly({&one, 1});
    reachable = one.second;
  }
  auto floor = [&] { return std::max(best, reachable) * slack; };
  std::vector<uint32_t>& cand_doc = s.cand_doc;
  std::vector<double>& cand_score = s.cand_score;
  uint32_t* slot = s.slot.data();
  cand_doc.assign(1, 0);
  cand_score.assign(1, 0.0);
  const double cut = floor() - s.left[read];
  for (std::size_t i = 0; i < n_reached; ++i) {
    const uint32_t d = first[i];
    if (scores[d] >= cut) {
      slot[d] = static_cast<uint32_t>(cand_doc.size());
      cand_doc.push_back(d);
      cand_score.push_back(scores[d]);
    }
    scores[d] = 0.0;
  }
  // The lists not read, largest bound first: the candidates that can no longer reach the best
  // partial score are dropped, and the others' postings in the list added: by reading the list
  // (a few instructions per posting, no branch) while many candidates are left, by a binary
  // search per candidate (in document order, each search starting where the last ended) once
  // they are few against the list's length.
  bool sorted = false;
  std::size_t j = read;
  for (; j < m && cand_doc.size() > 2; ++j) {
    std::size_t kept = 1;
    const double cut_j = floor() - s.left[j];
    for (std::size_t i = 1; i < cand_doc.size(); ++i) {
      const uint32_t d = cand_doc[i];
      if (cand_score[i] >= cut_j) {
        slot[d] = static_cast<uint32_t>(kept);
        cand_doc[kept] = d;
        cand_score[kept++] = cand_score[i];
      } else {
        slot[d] = 0;
      }
    }
    cand_doc.resize(kept);
    cand_score.resize(kept);
    const TermWeight& e = s.vector[s.order[j]];
    const double x = e.weight;
    const std::size_t n_cand = kept - 1;
    if (n_cand * static_cast<std::size_t>(std::bit_width(e.count)) * 2 < e.count) {
      if (!sorted) {
        // Few now: sort them by document (the slots follow).
        std::vector<std::pair<uint32_t, double>>& tmp = s.candidates;
        tmp.clear();
        for (std::size_t i = 1; i < kept; ++i) tmp.emplace_back(cand_doc[i], cand_score[i]);
        std::sort(tmp.begin(), tmp.end());
        for (std::size_t i = 0; i < tmp.size(); ++i) {
          cand_doc[i + 1] = tmp[i].first;
          cand_score[i + 1] = tmp[i].second;
          slot[tmp[i].first] = static_cast<uint32_t>(i + 1);
        }
        sorted = true;
      }
      const Doc* at = docs + e.begin;
      for (std::size_t i = 1; i < kept; ++i) {
        if (const float* w = find_in(e, cand_doc[i], at)) {
          cand_score[i] += x * static_cast<double>(*w);
        }
      }
    } else {
      const Doc* doc = docs + e.begin;
      const float* weight = weights_.data() + e.begin;
      double* sc = cand_score.data();
      for (std::size_t p = 0; p < e.count; ++p) {
        sc[slot[doc[p]]] += x * static_cast<double>(weight[p]);
      }
    }
    for (std::size_t i = 1; i < kept; ++i) best = std::max(best, cand_score[i]);
  }
  // Step 3. The few left (those at the floor), scored exactly.
  auto& candidates = s.candidates;
  candidates.clear();
  for (std::size_t i = 1; i < cand_doc.size(); ++i) {
    slot[cand_doc[i]] = 0;
    if (cand_score[i] + s.left[j] >= floor()) candidates.emplace_back(cand_doc[i], 0.0);
  }
  std::sort(candidates.begin(), candidates.end());
  score_exactly(candidates);
  const std::pair<uint32_t, double>* winner = nullptr;
  for (const auto& c : candidates) {
    if (!winner || c.second > winner->second) winner = &c;
  }
  if (winner) out.push_back({winner->second, winner->first});
}

template void TfidfIndex::nearest<uint16_t>(const uint16_t*, std::size_t, Scratch&,
                                            std::vector<Neighbor>&) const;
template void TfidfIndex::nearest<uint32_t>(const uint32_t*, std::size_t, Scratch&,
                                            std::vector<Neighbor>&) const;

}  // namespace triage::ml

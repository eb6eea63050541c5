#include "ml/gain_neighbors.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "ml/gain_router.h"
#include "ml/prompt_features.h"

namespace triage::ml {

GainNeighborhoods::GainNeighborhoods(const std::vector<std::string>& prompts,
                                     const std::vector<std::string>& categories) {
  if (prompts.empty() || prompts.size() != categories.size()) {
    throw std::invalid_argument("gain neighbours: no reference rows, or not one category each");
  }
  std::unordered_map<std::string_view, std::vector<uint32_t>> rows_of;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    rows_of[categories[i]].push_back(static_cast<uint32_t>(i));
  }
  for (auto& [category, rows] : rows_of) {
    by_category_.emplace(std::string(category), build(prompts, std::move(rows)));
  }
  if (by_category_.size() > 1) {
    std::vector<uint32_t> every(prompts.size());
    std::iota(every.begin(), every.end(), 0u);
    all_ = build(prompts, std::move(every));
  }
}

GainNeighborhoods::Group GainNeighborhoods::build(const std::vector<std::string>& prompts,
                                                  std::vector<uint32_t> rows) {
  std::vector<std::string> texts, stems;
  texts.reserve(rows.size());
  stems.reserve(rows.size());
  bool stems_are_prompts = true;
  for (uint32_t r : rows) {
    texts.push_back(prompts[r]);
    stems.emplace_back(question_stem(texts.back()));
    stems_are_prompts = stems_are_prompts && stems.back() == texts.back();
  }
  Group g;
  g.rows = std::move(rows);
  // Without options (GSM8K) every stem is its prompt: a stem field would equal the prompts'.
  if (stems_are_prompts) {
    g.index = std::make_unique<TfidfIndex>(texts, kGainPostingsPerTerm);
  } else {
    const std::vector<std::string> fields[] = {std::move(texts), std::move(stems)};
    g.index = std::make_unique<TfidfIndex>(fields, kGainPostingsPerTerm);
  }
  return g;
}

const GainNeighborhoods::Group& GainNeighborhoods::group(std::string_view category) const {
  const auto it = by_category_.find(category);
  if (it != by_category_.end()) return it->second;
  if (all_) return *all_;
  return by_category_.begin()->second;  // one category: its group holds every row
}

void GainNeighborhoods::search(std::string_view text, std::string_view category, std::size_t k_full,
                               std::size_t k_stem, const std::function<bool(std::size_t)>& skip,
                               std::vector<Neighbor>& full, std::vector<Neighbor>& stem) const {
  const Group& g = group(category);
  const std::size_t stem_bytes = question_stem(text).size();
  // One tokenisation and one term lookup for both searches: the stem is the head of the
  // prompt, cut at a newline.
  thread_local TfidfTerms all, head;
  thread_local TfidfTermSlots slots;
  g.index->terms(text, stem_bytes, all, head);
  g.index->find(all, slots);
  std::function<bool(std::size_t)> skip_document;
  if (skip) skip_document = [&](std::size_t d) { return skip(g.rows[d]); };
  const std::size_t stem_field = g.index->field_count() - 1;
  if (stem_field == 0 && stem_bytes == text.size()) {
    // One field and one text: the best k of both searches are the first of the best max(k).
    stem = g.index->neighbors(all, slots, 0, std::max(k_full, k_stem), skip_document);
    full.assign(stem.begin(),
                stem.begin() + static_cast<std::ptrdiff_t>(std::min(stem.size(), k_full)));
    stem.resize(std::min(stem.size(), k_stem));
  } else {
    full = g.index->neighbors(all, slots, 0, k_full, skip_document);
    stem = g.index->neighbors(head, slots, stem_field, k_stem, skip_document);
  }
  for (Neighbor& n : full) n.index = g.rows[n.index];
  for (Neighbor& n : stem) n.index = g.rows[n.index];
}

}  // namespace triage::ml

#pragma once
// Where the gain router (ml/gain_router.h) looks for "questions like this one": the reference
// prompts grouped by category, each group indexed on its own (ml::TfidfIndex, a prompt field
// and a question-stem field, kGainPostingsPerTerm postings per term), so a request's neighbours
// are the most similar references *of its category* (format 3). A request whose category has
// no references searches every reference instead (one more index over all of them, built only
// when there are two categories or more).
//
// Why per category: on MMLU 59% of a prompt's 25 nearest references over all subjects are from
// other subjects, yet the nested cross-validated APGR is the same (0.687 against 0.686), and a
// search within a subject reads its ~137 references' postings instead of 7,797's: a decision
// costs a fraction of the CPU (docs/performance.md, "Router decisions").
//
// Training (train/train_gain_router.cc) and serving build this from the same rows, so a served
// decision searches exactly what the regressions were fitted on. Immutable after
// construction; search() is const and thread-safe (per-thread scratch).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ml/tfidf_knn.h"

namespace triage::ml {

class GainNeighborhoods {
 public:
  // prompts[i] (already cut by gain_text) and categories[i] of reference row i.
  GainNeighborhoods(const std::vector<std::string>& prompts,
                    const std::vector<std::string>& categories);

  // The k_full nearest references of `text` by whole prompt and the k_stem nearest by question
  // stem, most similar first, among the references of `category` (all of them when it has
  // none), skipping rows for which `skip(row)` is true. Neighbor::index is the reference row.
  void search(std::string_view text, std::string_view category, std::size_t k_full,
              std::size_t k_stem, const std::function<bool(std::size_t)>& skip,
              std::vector<Neighbor>& full, std::vector<Neighbor>& stem) const;

 private:
  // One index over some reference rows: rows[d] is the reference row of document d.
  struct Group {
    std::unique_ptr<TfidfIndex> index;
    std::vector<uint32_t> rows;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static Group build(const std::vector<std::string>& prompts, std::vector<uint32_t> rows);
  const Group& group(std::string_view category) const;

  std::unordered_map<std::string, Group, StringHash, std::equal_to<>> by_category_;
  std::optional<Group> all_;  // empty with one category (its group holds every row)
};

}  // namespace triage::ml

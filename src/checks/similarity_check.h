#pragma once
// `similarity`: TF-IDF cosine between the answer and known-good answers for the request's
// category.
//
//   checks:
//     - type: similarity
//       references: refs/support_answers.jsonl   # relative to the config file
//       min: 0.3                                  # pass when the best cosine >= min (knob)
//       ngram: 2                                  # 1: words; 2: words + word pairs (default 1)
//
// References are JSONL lines {"category": "billing", "text": "..."} ("category" optional). They
// are read and indexed once at load. A request is compared with the references of its category
// (meta.category); with no category, or when its category has no references, with all of them.
// Tokens are ml::normalize_text words; IDF = ln((1 + N) / (1 + df)) + 1 over all N references.
// Score = the best cosine (0..1); reason names it and the reference line it came from.
//
// Threading: built once; the index is immutable, the threshold an atomic knob.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "checks/check_util.h"
#include "checks/rule_checks.h"

namespace triage::checks {

struct SimilarityReference {
  std::string category;
  std::string text;
};

// An immutable TF-IDF index over reference answers.
class TfidfIndex {
 public:
  TfidfIndex(std::vector<SimilarityReference> refs, int ngram);

  struct Match {
    double cosine = 0.0;
    size_t index = 0;   // into references()
    bool any = false;   // false when there was no reference to compare with
    bool fallback = false;  // the category had no references, so all were used
  };
  // Best match of `text` among the references of `category` (all when empty or unknown). Pure.
  Match best(std::string_view text, const std::string& category) const;
  const std::vector<SimilarityReference>& references() const { return refs_; }

 private:
  using Vec = std::vector<std::pair<int, double>>;  // sorted by term id, L2-normalised
  // Term counts of `text`. Building (`grow` = &term_id_): new terms get new ids. Querying
  // (`grow` null): unknown terms get distinct negative ids (they only add to the norm).
  Vec vectorize(std::string_view text, std::unordered_map<std::string, int>* grow) const;

  std::vector<SimilarityReference> refs_;
  int ngram_;
  std::unordered_map<std::string, int> term_id_;
  std::vector<double> idf_;  // by term id
  double unknown_idf_ = 1.0;
  std::vector<Vec> vecs_;    // by reference
  std::map<std::string, std::vector<size_t>, std::less<>> by_category_;
};

// Reads JSONL references. Throws std::runtime_error("LINE: what") on a bad line.
std::vector<SimilarityReference> read_references(const std::string& path);

class SimilarityCheck final : public SyncCheck, public routes::Tunable {
 public:
  SimilarityCheck(std::shared_ptr<const TfidfIndex> index, double min)
      : index_(std::move(index)), knob_("similarity/1 min", min, {0.0, 1.0 + 1e-9}) {}
  std::string_view name() const override { return "similarity/1"; }
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;
  std::vector<routes::Knob*> knobs() override { return {&knob_}; }
  ThresholdKnob& threshold() { return knob_; }

 private:
  std::shared_ptr<const TfidfIndex> index_;
  ThresholdKnob knob_;
};

// Factory for `type: similarity` (keys: references (required), min, ngram).
std::unique_ptr<routes::Check> make_similarity_check(config::MapReader& cfg, const routes::CheckContext& ctx);

}  // namespace triage::checks

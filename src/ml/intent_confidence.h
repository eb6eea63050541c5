#pragma once
// The calibrated confidence of an intent model's top-1 prediction, as the `classify` route and
// the `local` provider report it. Two signals:
//   - the raw top-1 probability (fastText softmax), and
//   - neighbour agreement: whether the query's nearest training utterance (TF-IDF cosine,
//     ml/tfidf_knn.h, over the reference utterances shipped with the model) has the predicted
//     label. No neighbour (no shared kept term) counts as disagreement.
// The confidence is an isotonic map of the raw probability, one map for agreeing and one for
// disagreeing predictions, both fitted on the trainer's held-out calibration slice
// (ml/intent_trainer.h): P(top-1 right | raw probability, agreement). Why: an out-of-scope
// query that fastText answers confidently with an in-scope intent usually does not look like
// that intent's training utterances, while in-scope queries usually do (docs/evaluation.md,
// CLINC150).
//
// Models trained before the neighbour signal (no "neighbor_calibration" in the metadata) get
// the top-1 map alone, as before. A block of another format, or reference utterances that are
// missing or do not match their recorded SHA-256, are refused at load (ModelError).
//
// Thread-safety: immutable after construction, cheap to copy (the index is shared); apply() is
// const and thread-safe. Cost: one neighbour search over the references per prediction.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ml/calibration.h"
#include "ml/fasttext_model.h"

namespace triage::ml {

// Recorded in the metadata's "neighbor_calibration" block and checked at load: bump it when
// the neighbour search or the agreement rule changes meaning.
inline constexpr std::string_view kIntentNeighborFormat = "triage-intent-neighbor/1";
// Postings kept per term in the references' index (ml::TfidfIndex, max_postings_per_term):
// 0, every posting (the exact cosine). Part of the format. A cap of 256 cost 0.4 pt of CV
// coverage on CLINC150 (docs/evaluation.md).
inline constexpr std::size_t kIntentNeighborPostingsPerTerm = 0;

class IntentConfidence {
 public:
  IntentConfidence() = default;  // identity, no neighbour signal
  explicit IntentConfidence(Calibrator top1);
  // `references`: the utterances fastText trained on, with their labels (not empty).
  IntentConfidence(Calibrator top1, const std::vector<LabeledExample>& references, Calibrator agree,
                   Calibrator disagree);

  // The calibrated confidence of `label`, predicted for `text` with raw probability `raw`.
  double apply(std::string_view text, std::string_view label, double raw) const;
  // True when the nearest reference utterance of `text` has `label`; false without a
  // neighbour signal or without a neighbour.
  bool nearest_agrees(std::string_view text, std::string_view label) const;

  bool uses_neighbors() const { return neighbors_ != nullptr; }
  // "isotonic" (the top-1 map's method) or e.g. "isotonic+neighbor".
  std::string method_name() const;
  const Calibrator& top1() const { return top1_; }

  // The confidence stored with `model_path` (metadata_path_for(model_path): "calibration" and
  // the optional "neighbor_calibration", whose reference file sits next to the model).
  // Identity when the metadata is absent. Throws ModelError naming the file.
  static IntentConfidence for_model(const std::string& model_path);

 private:
  struct Neighbors;
  Calibrator top1_;
  std::shared_ptr<const Neighbors> neighbors_;  // null: the top-1 map alone
};

// Writes `references` as JSON lines {"text", "intent"} (the training-data format) to `path`.
// Throws ModelError when the file cannot be written.
void write_intent_references(const std::string& path,
                             const std::vector<LabeledExample>& references);

}  // namespace triage::ml

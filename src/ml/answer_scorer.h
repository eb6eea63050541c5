#pragma once
// A learned answer scorer (FrugalGPT style): P(the cheap model's answer is acceptable) from a
// fastText model over the prompt and the answer, Platt-calibrated. Written by `triage train
// cascade-scorer`, read by the `scorer` check; both build the feature text here, so training
// and serving cannot drift.
//
// Feature text (shared by training and serving, so they cannot drift): with the "cheap"
// feature, tokens are prepended that summarise the answer for the linear model:
//   zzans1|zzans0            a final answer is present (kFinalAnswerPattern)
//   zzarok|zzarbad|zzarnone  the arithmetic check's verdict (all stated steps right / a wrong
//                            step / no checkable step)
//   zzsteps<b>, zzlines<b>, zzlen<b>  bucketed counts of arithmetic steps, non-empty lines and
//                            characters of the answer
//   zzend<c>                 how the answer ends: d (digit), p (punctuation), w (a letter:
//                            often a truncated answer)
// then, per the feature set, the prompt and/or the answer text.
//
//
// Immutable once loaded; score() is pure and thread-safe.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ml/fasttext_model.h"

namespace triage::ml {

// GSM8K's "#### 42", "The (final) answer is 42" and LaTeX "\boxed{42}" (RE2 syntax; capture
// group 1 is the answer). The `final_answer` check's default pattern and the zzans feature.
extern const char kFinalAnswerPattern[];

struct ScorerFeatures {
  bool cheap = true;
  bool prompt = true;
  bool response = true;
  // "cheap+prompt+response", "prompt+response", "cheap", ... (parts joined by '+', in this order)
  std::string name() const;
  // Parses name(); nullopt on anything else (or when no part is set).
  static std::optional<ScorerFeatures> parse(std::string_view name);
};

// The cheap feature tokens of an answer (without prompt or answer text), space-separated.
std::string cheap_feature_tokens(std::string_view response);
// The text the fastText model is trained and queried on.
std::string scorer_feature_text(std::string_view prompt, std::string_view response,
                                const ScorerFeatures& features);

// A loaded answer scorer: fastText model + its "scorer" metadata. Immutable.
class AnswerScorer {
 public:
  // Loads `model_path` and `model_path + ".json"`. Throws ModelError naming the file when
  // either is missing, the metadata has no usable "scorer" block, or its positive label is not
  // a label of the model.
  static std::shared_ptr<const AnswerScorer> load(const std::string& model_path);

  // Calibrated P(acceptable), in [0, 1). Pure.
  double score(std::string_view prompt, std::string_view response) const;
  // The fastText probability of the positive label, before calibration.
  double raw_score(std::string_view prompt, std::string_view response) const;

  const ScorerFeatures& features() const { return features_; }
  const std::string& positive_label() const { return positive_label_; }
  double platt_a() const { return platt_a_; }
  double platt_b() const { return platt_b_; }
  const std::string& path() const { return path_; }

 private:
  std::shared_ptr<const FastTextModel> model_;
  std::string path_;
  std::string positive_label_;
  ScorerFeatures features_;
  double platt_a_ = 1.0;
  double platt_b_ = 0.0;
};

}  // namespace triage::ml

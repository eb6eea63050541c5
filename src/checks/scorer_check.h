#pragma once
// `scorer` (FrugalGPT style): a learned acceptance check. A fastText model reads the prompt and
// the cheap model's answer (plus a few cheap feature tokens, below) and predicts whether the
// answer is acceptable; Platt scaling on a held-out slice turns that into a calibrated
// P(acceptable). The check passes when P >= threshold.
//
//   checks:
//     - type: scorer
//       model: ../../models/gsm8k_scorer.bin   # relative to the config file; metadata = + ".json"
//       threshold: 0.6                         # 0 always accepts, 1 always escalates (default 0.5)
//
// The model and its metadata (a "scorer" block: positive label, feature set, calibration, the
// train/test split) are written by `triage train cascade-scorer` (offline/train_scorer.h).
// The threshold is a knob (routes/knob.h): `triage eval --sweep` moves it over [0, 1].
//
// Feature text (shared by training and serving, so they cannot drift): with the "cheap"
// feature, tokens are prepended that summarise the answer for the linear model:
//   zzans1|zzans0            a final answer is present (checks::kDefaultFinalAnswerPattern)
//   zzarok|zzarbad|zzarnone  the arithmetic check's verdict (all stated steps right / a wrong
//                            step / no checkable step)
//   zzsteps<b>, zzlines<b>, zzlen<b>  bucketed counts of arithmetic steps, non-empty lines and
//                            characters of the answer
//   zzend<c>                 how the answer ends: d (digit), p (punctuation), w (a letter:
//                            often a truncated answer)
// then, per the feature set, the prompt and/or the answer text.
//
// Threading: built once; evaluate() is const and thread-safe; the threshold is atomic.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "checks/rule_checks.h"
#include "ml/fasttext_model.h"
#include "routes/knob.h"

namespace triage::checks {

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
  // Loads `model_path` and `model_path + ".json"`. Throws ml::ModelError naming the file when
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
  std::shared_ptr<const ml::FastTextModel> model_;
  std::string path_;
  std::string positive_label_;
  ScorerFeatures features_;
  double platt_a_ = 1.0;
  double platt_b_ = 0.0;
};

class ScorerCheck final : public SyncCheck, public routes::Tunable {
 public:
  ScorerCheck(std::shared_ptr<const AnswerScorer> scorer, double threshold)
      : scorer_(std::move(scorer)), knob_(*this, threshold) {}
  std::string_view name() const override { return "scorer/1"; }
  // Score: the calibrated P(acceptable). Reason: "P(acceptable)=0.734 >= 0.600".
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;
  std::vector<routes::Knob*> knobs() override { return {&knob_}; }

  double threshold() const { return knob_.get(); }
  void set_threshold(double t) { knob_.set(t); }
  const AnswerScorer& scorer() const { return *scorer_; }

 private:
  class ThresholdKnob final : public routes::Knob {
   public:
    ThresholdKnob(const ScorerCheck& owner, double t) : owner_(owner), value_(t) {}
    std::string_view name() const override { return "scorer/1 threshold"; }
    double get() const override { return value_.load(std::memory_order_relaxed); }
    void set(double v) override { value_.store(v, std::memory_order_relaxed); }
    // 0: every answer passes (P >= 0); 1: none does (P < 1 always).
    std::pair<double, double> range() const override { return {0.0, 1.0}; }
    std::string_view model_path() const override { return owner_.scorer_->path(); }

   private:
    const ScorerCheck& owner_;
    std::atomic<double> value_;
  };

  std::shared_ptr<const AnswerScorer> scorer_;
  ThresholdKnob knob_;
};

// Factory for `type: scorer` (keys: model (required), threshold).
std::unique_ptr<routes::Check> make_scorer_check(config::MapReader& cfg);

}  // namespace triage::checks

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
// train/test split) are written by `triage train cascade-scorer` (train/train_scorer.h).
// The threshold is a knob (routes/knob.h): `triage eval --sweep` moves it over [0, 1]. The
// feature text and the loaded scorer are ml/answer_scorer.h (shared with training).
//
// Threading: built once; evaluate() is const and thread-safe; the threshold is atomic.
#include <atomic>
#include <memory>

#include "checks/rule_checks.h"
#include "ml/answer_scorer.h"
#include "routes/knob.h"

namespace triage::checks {

class ScorerCheck final : public SyncCheck, public routes::Tunable {
 public:
  ScorerCheck(std::shared_ptr<const ml::AnswerScorer> scorer, double threshold)
      : scorer_(std::move(scorer)), knob_(*this, threshold) {}
  std::string_view name() const override { return "scorer/1"; }
  // Score: the calibrated P(acceptable). Reason: "P(acceptable)=0.734 >= 0.600".
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;
  std::vector<routes::Knob*> knobs() override { return {&knob_}; }

  double threshold() const { return knob_.get(); }
  void set_threshold(double t) { knob_.set(t); }
  const ml::AnswerScorer& scorer() const { return *scorer_; }

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

  std::shared_ptr<const ml::AnswerScorer> scorer_;
  ThresholdKnob knob_;
};

// Factory for `type: scorer` (keys: model (required), threshold).
std::unique_ptr<routes::Check> make_scorer_check(config::MapReader& cfg, const routes::CheckContext& ctx);

}  // namespace triage::checks

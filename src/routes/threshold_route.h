#pragma once
// The `threshold` route kind (RouteLLM style): a scorer predicts P(the strong model is needed)
// from the request; above the threshold the request goes to `strong`, otherwise to `weak`.
//
//   - name: default
//     type: threshold
//     scorer: models/mmlu_router.bin   # fastText model; its metadata is scorer + ".json"
//     weak: mixtral                    # a catalog model or a route declared earlier
//     strong: gpt4
//     threshold: 0.5                   # either this (0..1; -1..1 for a gain scorer) ...
//     strong_share: 0.3                # ... or this: calibrate the threshold at load so that
//                                      # this share of the calibration prompts goes strong
//     calibration: data/calib.csv      # optional CSV (column `prompt`, optional `subject`);
//                                      # default: the validation scores stored with the model
//
// The decision is a pure function: (last user text, category) -> score -> weak|strong, which is
// what lets `triage eval` replay it exactly. The scorer's metadata (written by `triage train
// router`) says which fastText label is "strong needed", which features were used (the prompt,
// and optionally the request category as a leading token) and the Platt calibration that turns
// the fastText probability into a calibrated P(strong needed). When the metadata has
// "category_rates" (the training share of "strong needed" per request category), the
// calibration is a logistic regression on two inputs:
//   P = sigmoid(a * logit(p_fasttext) + c * logit(rate[category] or the prior) + b).
//
// Threading: built once; run() and score() are const and thread-safe. The threshold is a knob
// (std::atomic<double>) that set_threshold() may move from any thread at any time; each
// request reads it once.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ml/threshold_scorer.h"
#include "routes/decider.h"
#include "routes/knob.h"
#include "routes/route.h"

namespace triage::routes {

class ThresholdRoute final : public Route, public Tunable, public Decider {
 public:
  enum class Choice { kWeak, kStrong };

  ThresholdRoute(std::string name, std::shared_ptr<const ml::ThresholdScorer> scorer, Route& weak,
                 Route& strong, double threshold);

  std::string_view kind() const override { return "threshold/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

  // The pure decision, as run() makes it: strong iff score > threshold.
  static Choice decide(double score, double threshold) {
    return score > threshold ? Choice::kStrong : Choice::kWeak;
  }
  double score(const core::ChatRequest& req) const;
  // Decider (defined in decider.cc): what run() would choose, without calling a model.
  RouteDecision decide_request(const core::ChatRequest& req) const override;
  // Evaluated as a weak/strong pair; a gain scorer's reference prompts are reported.
  EvalFamily eval_family() override;

  // The knob. Values outside 0..1 are allowed (< 0: all strong; >= 1: all weak) for sweeps.
  double threshold() const { return threshold_.load(std::memory_order_relaxed); }
  void set_threshold(double t) { threshold_.store(t, std::memory_order_relaxed); }
  // One knob, "threshold" (range [-1, 1]), whose request_score() is score(req).
  std::vector<Knob*> knobs() override { return {&knob_}; }

  const ml::ThresholdScorer& scorer() const { return *scorer_; }
  Route& weak() const { return weak_; }
  Route& strong() const { return strong_; }

 private:
  std::string name_;
  std::shared_ptr<const ml::ThresholdScorer> scorer_;
  Route& weak_;
  Route& strong_;
  std::atomic<double> threshold_;

  class ThresholdKnob final : public Knob {
   public:
    explicit ThresholdKnob(ThresholdRoute& owner) : owner_(owner) {}
    std::string_view name() const override { return "threshold"; }
    double get() const override { return owner_.threshold(); }
    void set(double v) override { owner_.set_threshold(v); }
    std::pair<double, double> range() const override { return {-1.0, 1.0}; }
    std::optional<double> request_score(const core::ChatRequest& req) const override {
      return owner_.score(req);
    }
    std::string_view model_path() const override { return owner_.scorer().path(); }

   private:
    ThresholdRoute& owner_;
  };
  ThresholdKnob knob_{*this};
};

// Registers `type: threshold` with RouteTable (idempotent).
void register_threshold_kind();

}  // namespace triage::routes

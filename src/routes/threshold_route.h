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

#include "ml/fasttext_model.h"
#include "ml/gain_router.h"
#include "routes/decider.h"
#include "routes/knob.h"
#include "routes/route.h"

namespace triage::routes {

// Feature text a router model is trained and queried on: the prompt, preceded by a category
// token ("zzcat" + the category's lowercase letters and digits) when `use_category` is set and
// the category is non-empty. Shared by `triage train router` and this route.
std::string router_feature_text(std::string_view prompt, std::string_view category,
                                bool use_category);

// Platt scaling of a raw probability: sigmoid(a * logit(p) + b), p clamped to [1e-6, 1 - 1e-6].
double platt(double p, double a, double b);

// A loaded router scorer: fastText model + its router metadata. Immutable.
class ThresholdScorer {
 public:
  // Loads `model_path` and `model_path + ".json"`. Throws ml::ModelError naming the file when
  // either is missing or the metadata has no usable "router" block (or its positive label is
  // not one of the model's labels).
  static std::shared_ptr<const ThresholdScorer> load(const std::string& model_path);

  // Calibrated P(strong needed), 0..1; or, for a "gain" router (metadata router.gain),
  // P(strong right) - P(weak right) in [-1, 1]. Pure; higher means strong is more worth it.
  double score(std::string_view prompt, std::string_view category) const;
  // The gain router when the metadata has one (then score() is its score), else null.
  const ml::GainRouter* gain() const { return gain_.get(); }
  // The raw fastText probability of the positive label (before calibration).
  double raw_score(std::string_view prompt, std::string_view category) const;

  bool uses_category() const { return use_category_; }
  const std::string& positive_label() const { return positive_label_; }
  double platt_a() const { return platt_a_; }
  double platt_b() const { return platt_b_; }
  double category_weight() const { return category_weight_; }
  // The training rate of "strong needed" for a category (the prior when unknown or empty).
  double category_rate(std::string_view category) const;
  // Calibrated scores of the model's validation prompts (for strong_share calibration).
  const std::vector<double>& validation_scores() const { return validation_scores_; }
  const std::string& path() const { return path_; }

 private:
  std::shared_ptr<const ml::FastTextModel> model_;
  std::string path_;
  std::string positive_label_;
  bool use_category_ = false;
  double platt_a_ = 1.0;
  double platt_b_ = 0.0;
  double category_weight_ = 0.0;  // c above; 0 without category rates
  double category_prior_ = 0.5;
  std::map<std::string, double, std::less<>> category_rates_;
  std::vector<double> validation_scores_;
  std::shared_ptr<const ml::GainRouter> gain_;
};

// The threshold that sends `share` (0..1) of `scores` strong under the rule score > threshold:
// the top round(share * n) scores are strictly above it (fewer when scores tie at the cut).
// share 0 -> max score (nothing above); share 1 -> -1 (everything above). Empty scores -> 0.5.
double threshold_for_share(std::vector<double> scores, double share);

class ThresholdRoute final : public Route, public Tunable, public Decider {
 public:
  enum class Choice { kWeak, kStrong };

  ThresholdRoute(std::string name, std::shared_ptr<const ThresholdScorer> scorer, Route& weak,
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

  // The knob. Values outside 0..1 are allowed (< 0: all strong; >= 1: all weak) for sweeps.
  double threshold() const { return threshold_.load(std::memory_order_relaxed); }
  void set_threshold(double t) { threshold_.store(t, std::memory_order_relaxed); }
  // One knob, "threshold" (range [-1, 1]), whose request_score() is score(req).
  std::vector<Knob*> knobs() override { return {&knob_}; }

  const ThresholdScorer& scorer() const { return *scorer_; }
  Route& weak() const { return weak_; }
  Route& strong() const { return strong_; }

 private:
  std::string name_;
  std::shared_ptr<const ThresholdScorer> scorer_;
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

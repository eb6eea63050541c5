#pragma once
// A router scorer (RouteLLM style): P(the strong model is needed) for a request, from a fastText
// model and the metadata `triage train router` writes next to it (features, Platt calibration,
// category rates, or a gain router). Shared by the `threshold` route (serving), `triage train
// router` (which writes and reloads it) and `triage analyze` (reasoning classes), so the three
// cannot drift. Immutable once loaded; score() is pure and thread-safe.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ml/fasttext_model.h"
#include "ml/gain_router.h"

namespace triage::ml {

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
  // Loads `model_path` and `model_path + ".json"`. Throws ModelError naming the file when
  // either is missing or the metadata has no usable "router" block (or its positive label is
  // not one of the model's labels).
  static std::shared_ptr<const ThresholdScorer> load(const std::string& model_path);

  // Calibrated P(strong needed), 0..1; or, for a "gain" router (metadata router.gain),
  // P(strong right) - P(weak right) in [-1, 1]. Pure; higher means strong is more worth it.
  double score(std::string_view prompt, std::string_view category) const;
  // The gain router when the metadata has one (then score() is its score), else null.
  const GainRouter* gain() const { return gain_.get(); }
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
  // The router file's version (ml::router_version of its metadata): what every decision it
  // makes is tagged with (core::Span::router_version).
  const std::string& version() const { return version_; }

 private:
  std::shared_ptr<const FastTextModel> model_;
  std::string path_;
  std::string version_;
  std::string positive_label_;
  bool use_category_ = false;
  double platt_a_ = 1.0;
  double platt_b_ = 0.0;
  double category_weight_ = 0.0;  // c above; 0 without category rates
  double category_prior_ = 0.5;
  std::map<std::string, double, std::less<>> category_rates_;
  std::vector<double> validation_scores_;
  std::shared_ptr<const GainRouter> gain_;
};

// The threshold that sends `share` (0..1) of `scores` strong under the rule score > threshold:
// the top round(share * n) scores are strictly above it (fewer when scores tie at the cut).
// share 0 -> max score (nothing above); share 1 -> -1 (everything above). Empty scores -> 0.5.
double threshold_for_share(std::vector<double> scores, double share);

}  // namespace triage::ml

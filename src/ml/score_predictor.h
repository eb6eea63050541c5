#pragma once
// A multi-model score predictor (RouterBench style): for every model it was trained on, the
// calibrated probability that the model answers a prompt correctly. Written by `triage train
// multi-router`, read by the `predict` route; both share the feature text below so they cannot
// drift. The combination per model is a logistic calibration fitted on held-out data:
//   P(model correct) = sigmoid(a * logit(p_own) + c * logit(p_shared) + b).
// Immutable once loaded; predict() is pure and thread-safe.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ml/fasttext_model.h"

namespace triage::ml {

// Feature text of a multi-router: the last paragraph of the prompt (the text after the last
// blank line, i.e. the question itself when the prompt carries few-shot examples first), or the
// whole prompt when that part is empty. Shared by `triage train multi-router` and this route.
std::string multi_feature_text(std::string_view prompt);

// A loaded multi-model score predictor. Immutable.
class ScorePredictor {
 public:
  struct ModelCalibration {
    std::string name;                           // the model's name in the training data
    std::shared_ptr<const FastTextModel> own;  // nullptr: no own model (a = 0)
    double a = 0.0;  // weight of logit(p_own)
    double c = 0.0;  // weight of logit(p_shared)
    double b = 0.0;  // bias
  };

  // Loads `path` (the shared model), `path + ".json"` (its "multi_router" metadata block) and
  // the per-model files it names (relative to path's folder). Throws ModelError naming the
  // file when any is missing or the metadata is unusable.
  static std::shared_ptr<const ScorePredictor> load(const std::string& path);

  // Calibrated P(correct) of every model, in models() order. Pure.
  std::vector<double> predict(std::string_view prompt) const;
  // Raw fastText P("ok") of the shared model on the feature text of `prompt`.
  double shared_raw(std::string_view prompt) const;

  const std::vector<ModelCalibration>& models() const { return models_; }
  std::optional<std::size_t> index_of(std::string_view model) const;
  const std::string& path() const { return path_; }

 private:
  static double positive(const FastTextModel& m, const FastTextInput& text);
  std::string path_;
  std::shared_ptr<const FastTextModel> shared_;
  std::vector<ModelCalibration> models_;
};

}  // namespace triage::ml

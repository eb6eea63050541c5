#pragma once
// The `local` provider: an in-process fastText classifier as a catalog model. It predicts the
// label of the last user message and answers with the label's template from
// model.local.answers ("{label}" and "{confidence}" expand), else default_answer, else the
// label itself; Completion.label/confidence carry the prediction (classify routes read them).
// The confidence is the top-1 probability mapped through the calibrator stored in the model's
// metadata (ml/calibration.h; identity when the metadata has none).
//
// The model is loaded once in the factory and shared read-only; FastTextModel::predict is
// thread-safe, so calls run concurrently on any I/O thread. A prediction takes microseconds,
// so it runs inline on the I/O thread (no executor hop). CallStats hold the measured time.
#include <memory>
#include <string>

#include "ml/calibration.h"
#include "ml/fasttext_model.h"
#include "providers/provider.h"

namespace triage::providers {

class LocalClient final : public ModelClient {
 public:
  // Throws config::ConfigError (with the model's line) if the model cannot be loaded or an
  // answers template names a label the model does not have.
  LocalClient(const config::Config& cfg, const config::Model& model);

  std::string_view name() const override { return "local/1"; }
  boost::asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req,
                                                            SteadyTime deadline,
                                                            CallStats& stats) override;
  boost::asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req,
                                                          SteadyTime deadline,
                                                          CallStats& stats,
                                                          core::StreamSink& sink) override;

  const ml::FastTextModel& model() const { return *model_; }
  const ml::Calibrator& calibrator() const { return calibrator_; }

 private:
  Result<core::Completion> classify(const core::ChatRequest& req, SteadyTime deadline,
                                    CallStats& stats) const;

  std::string model_name_;
  std::string upstream_model_;
  config::LocalOptions options_;
  std::shared_ptr<const ml::FastTextModel> model_;
  ml::Calibrator calibrator_;
};

// "{label}" -> label, "{confidence}" -> confidence with two decimals ("0.93").
std::string expand_answer_template(const std::string& tmpl, const std::string& label,
                                   double confidence);

std::unique_ptr<ModelClient> make_local_client(const config::Config& cfg,
                                               const config::Model& model,
                                               const EnvLookup& env);

}  // namespace triage::providers

#pragma once
// The `local` provider: an in-process fastText classifier as a catalog model. It predicts the
// label of the last user message and answers with the label's template from the model's
// `local.answers` ("{label}" and "{confidence}" expand), else default_answer, else the
// label itself; Completion.label/confidence carry the prediction (classify routes read them).
// The confidence is the top-1 probability calibrated as the model's metadata says
// (ml/intent_confidence.h: the top-1 map, and the neighbour-agreement maps when the model has
// them; identity when the metadata has none).
//
// The model is loaded once in the factory and shared read-only; FastTextModel::predict is
// thread-safe, so calls run concurrently on any I/O thread. A prediction takes microseconds,
// so it runs inline on the I/O thread (no executor hop). CallStats hold the measured time.
#include <map>
#include <memory>
#include <string>

#include "ml/fasttext_model.h"
#include "ml/intent_confidence.h"
#include "providers/provider.h"

namespace triage::providers {

// The model's `local:` block (required): an in-process fastText classifier. Answers with the
// predicted label and its probability, or, when `answers` has a template for the label, with
// that text (an FAQ tier).
struct LocalOptions {
  std::string model_path;  // .bin/.ftz, resolved against the config's directory
  std::map<std::string, std::string> answers;  // label -> templated answer ("{label}" expands)
  std::string default_answer;  // used for labels without a template; empty: answer the label
};

// Reads the model's `local:` block (model_path resolved against the config's directory; the
// file itself is loaded by the client). Throws config::ConfigError at the field.
LocalOptions parse_local_options(const config::Config& cfg, const config::Model& model);

class LocalClient final : public ModelClient {
 public:
  // Throws config::ConfigError if the model cannot be loaded (at `local.model_path`: a missing
  // file, naming the model and `make models`) or an answers template names a label the model
  // does not have (with the model's line).
  LocalClient(const config::Config& cfg, const config::Model& model, LocalOptions options);

  std::string_view name() const override { return "local/1"; }
  boost::asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req,
                                                            SteadyTime deadline,
                                                            CallStats& stats) override;
  boost::asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req,
                                                          SteadyTime deadline,
                                                          CallStats& stats,
                                                          core::StreamSink& sink) override;

  const ml::FastTextModel& model() const { return *model_; }
  const ml::IntentConfidence& confidence() const { return confidence_; }

 private:
  Result<core::Completion> classify(const core::ChatRequest& req, SteadyTime deadline,
                                    CallStats& stats) const;

  std::string model_name_;
  std::string upstream_model_;
  LocalOptions options_;
  std::shared_ptr<const ml::FastTextModel> model_;
  ml::IntentConfidence confidence_;
};

// "{label}" -> label, "{confidence}" -> confidence with two decimals ("0.93").
std::string expand_answer_template(const std::string& tmpl, const std::string& label,
                                   double confidence);

// Parses the model's options and builds its client.
std::unique_ptr<ModelClient> make_local_client(const config::Config& cfg,
                                               const config::Model& model,
                                               const EnvLookup& env);

// Registered as "local": refuses endpoint/api_key_env, needs `local:`.
ProviderType local_provider();

}  // namespace triage::providers

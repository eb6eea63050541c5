#include "providers/local.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/tokens.h"
#include "providers/provider_config.h"

namespace triage::providers {
namespace asio = boost::asio;

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos;
       pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

}  // namespace

std::string expand_answer_template(const std::string& tmpl, const std::string& label,
                                   double confidence) {
  char conf[32];
  std::snprintf(conf, sizeof conf, "%.2f", confidence);
  std::string out = tmpl;
  replace_all(out, "{label}", label);
  replace_all(out, "{confidence}", conf);
  return out;
}

LocalOptions parse_local_options(const config::Config& cfg, const config::Model& model) {
  const config::Field block = options_field(cfg, model);
  if (!block.present())
    block.fail(
        "provider 'local' needs a 'local:' block with at least 'model_path' (a fastText "
        ".bin/.ftz)");
  config::MapReader r = block.map();
  r.only({"model_path", "answers", "default_answer"});
  LocalOptions o;
  o.model_path = cfg.resolve(r["model_path"].as<std::string>());
  o.answers = r["answers"].get<std::map<std::string, std::string>>({});
  o.default_answer = r["default_answer"].get<std::string>(o.default_answer);
  return o;
}

LocalClient::LocalClient(const config::Config& cfg, const config::Model& model,
                         LocalOptions options)
    : model_name_(model.name),
      upstream_model_(model.upstream_model.empty() ? model.name : model.upstream_model),
      options_(std::move(options)) {
  const std::string where =
      cfg.path + ":" + std::to_string(model.line) + ": model '" + model.name + "' (local): ";
  const std::string& path = options_.model_path;
  // The model file is a field of the config: errors about it point there.
  const config::Field path_field = options_field(cfg, model).map()["model_path"];
  if (path.empty()) path_field.fail("missing required field 'model_path'");
  if (!std::filesystem::exists(path)) {
    path_field.fail("model file " + path + " of model '" + model.name +
                    "' not found; run `make models` to train the shipped models");
  }
  try {
    model_ = ml::FastTextModel::load(path);
    confidence_ = ml::IntentConfidence::for_model(path);
  } catch (const ml::ModelError& e) {
    path_field.fail(std::string(e.what()) + " (model '" + model.name +
                    "'; run `make models` to retrain it)");
  }
  const auto& labels = model_->labels();
  for (const auto& [label, unused] : options_.answers) {
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) {
      std::string known;
      for (std::size_t i = 0; i < labels.size() && i < 20; ++i) {
        known += (i ? ", " : "") + labels[i];
      }
      if (labels.size() > 20) known += ", ... (" + std::to_string(labels.size()) + " labels)";
      throw config::ConfigError(where + "local.answers has a template for label '" + label +
                                "' which model " + path + " never predicts; its labels: " +
                                known);
    }
  }
}

Result<core::Completion> LocalClient::classify(const core::ChatRequest& req,
                                               SteadyTime deadline, CallStats& stats) const {
  const SteadyTime start = SteadyClock::now();
  if (start >= deadline) {
    return make_error(ErrorCode::kUpstreamTimeout,
                      "model " + model_name_ + " did not answer before the deadline");
  }
  const std::string& text = req.last_user_text();
  auto preds = model_->predict(text, 1);
  stats.total_us = micros_between(start, SteadyClock::now());
  stats.ttfb_us = stats.total_us;
  if (preds.empty()) {
    return make_error(ErrorCode::kInvalidRequest,
                      "model " + model_name_ + " (local classifier) needs a user message with "
                      "text to classify",
                      "local: empty features", "messages");
  }
  core::Completion c;
  c.label = preds[0].label;
  c.confidence = confidence_.apply(text, c.label, preds[0].probability);
  auto it = options_.answers.find(c.label);
  if (it != options_.answers.end()) {
    c.content = expand_answer_template(it->second, c.label, c.confidence);
  } else if (!options_.default_answer.empty()) {
    c.content = expand_answer_template(options_.default_answer, c.label, c.confidence);
  } else {
    c.content = c.label;
  }
  c.model = model_name_;
  c.upstream_model = upstream_model_;
  for (const auto& m : req.messages) c.usage.prompt_tokens += core::estimate_tokens(m.text);
  c.usage.completion_tokens = core::estimate_tokens(c.content);
  c.usage.estimated = true;
  return c;
}

asio::awaitable<Result<core::Completion>> LocalClient::complete(const core::ChatRequest& req,
                                                                SteadyTime deadline,
                                                                CallStats& stats) {
  co_return classify(req, deadline, stats);
}

asio::awaitable<Result<core::Completion>> LocalClient::stream(const core::ChatRequest& req,
                                                              SteadyTime deadline,
                                                              CallStats& stats,
                                                              core::StreamSink& sink) {
  auto result = classify(req, deadline, stats);
  if (!result) co_return result;
  core::Delta d;
  d.role = "assistant";
  d.content = result->content;
  if (!co_await sink.write(d)) {
    co_return make_error(ErrorCode::kCancelled, "client went away during the stream");
  }
  co_return result;
}

std::unique_ptr<ModelClient> make_local_client(const config::Config& cfg,
                                               const config::Model& model,
                                               const EnvLookup& /*env*/) {
  return std::make_unique<LocalClient>(cfg, model, parse_local_options(cfg, model));
}

ProviderType local_provider() {
  return ProviderType{
      [](const config::Config& cfg, const config::Model& model) {
        refuse_endpoint_and_key(cfg, model);
        (void)parse_local_options(cfg, model);
      },
      make_local_client};
}

}  // namespace triage::providers

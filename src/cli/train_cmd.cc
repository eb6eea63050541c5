#include "cli/train_cmd.h"

#include <cstdio>

#include "ml/intent_trainer.h"

namespace triage::cli {

namespace {

void add_intent(CLI::App& train, TrainCommands& c) {
  c.intent = train.add_subcommand("intent", "Intent classifier from CLINC150-format JSON lines");
  c.intent->add_option("--train", c.intent_train, "Training data (JSON lines: text, intent)")
      ->required();
  c.intent->add_option("--val", c.intent_val, "Validation data (same format)")->required();
  c.intent->add_option("--out", c.intent_out, "Model path (.bin); metadata goes next to it")
      ->required();
}

void add_router(CLI::App& train, TrainCommands& c) {
  train::TrainRouterOptions& o = c.router_opts;
  c.router = train.add_subcommand(
      "router", "Weak/strong router scorer from a pair dataset (RouteLLM format)");
  c.router->add_option("--dataset", o.dataset, "CSV: prompt, weak_correct, strong_correct")
      ->required();
  c.router->add_option("--out", o.out_path, "Model path (.bin); metadata next to it")->required();
  c.router->add_option("--label", o.label, "auto | strong_needed | weak_fails");
  c.router->add_option("--scorer", o.scorer,
                       "auto | stack | gain (served scorer; auto: higher cross-validated APGR)");
  c.router->add_option("--features", o.features, "auto | prompt | category+prompt");
  c.router->add_option("--seed", o.split.seed, "Seed of the fixed train/test split");
  c.router->add_option("--folds", o.folds, "Cross-fitting folds over the train part (default 5)");
  c.router->add_option("--category-smoothing", o.category_smoothing,
                       "Candidate pseudo-row counts for the category rates (default 2 5 10 "
                       "20 50; the best out-of-fold is kept)");
}

void add_multi_router(CLI::App& train, TrainCommands& c) {
  train::TrainMultiRouterOptions& o = c.multi_opts;
  c.multi_router = train.add_subcommand(
      "multi-router", "Per-model score predictor from RouterBench-format data");
  c.multi_router->add_option("--dataset", o.datasets, "CSV (repeatable; rows are pooled)")
      ->required();
  c.multi_router->add_option("--out", o.out_path, "Model path (.bin); metadata next to it")
      ->required();
  c.multi_router->add_option("--model", o.models, "Candidate model (repeatable; default: all)");
  c.multi_router->add_option("--seed", o.split.seed, "Seed of the fixed train/test split");
  c.multi_router->add_option("--threads", o.threads, "fastText threads (1 = reproducible)");
}

void add_scorer(CLI::App& train, TrainCommands& c) {
  train::TrainScorerOptions& o = c.scorer_opts;
  c.scorer = train.add_subcommand(
      "cascade-scorer", "Cascade acceptance scorer from prompt + cheap response + grade");
  c.scorer->add_option("--dataset", o.dataset, "CSV: prompt, response and grade columns")
      ->required();
  c.scorer->add_option("--out", o.out_path, "Model path (.bin); metadata next to it")->required();
  c.scorer->add_option("--prompt-column", o.prompt_column, "default prompt");
  c.scorer->add_option("--response-column", o.response_column, "default weak_response");
  c.scorer->add_option("--label-column", o.label_column, "default weak_correct");
  c.scorer->add_option("--strong-column", o.strong_column, "auto | none | COLUMN");
  c.scorer->add_option("--features", o.features, "auto | e.g. cheap+prompt+response");
  c.scorer->add_option("--seed", o.split.seed, "Seed of the fixed train/test split");
}

int train_intent(const TrainCommands& c) {
  auto r = ml::train_intent_model(c.intent_train, c.intent_val, c.intent_out);
  std::printf(
      "trained %s: %d labels, validation accuracy %.4f, calibrated on %lld held-out rows "
      "(validation ECE %.3f -> %.3f), %.1f s\n",
      c.intent_out.c_str(), static_cast<int>(r.n_labels), r.validation_accuracy,
      static_cast<long long>(r.n_calibration), r.ece_validation_raw, r.ece_validation_calibrated,
      r.train_seconds);
  return 0;
}

}  // namespace

void add_train_commands(CLI::App& app, TrainCommands& c) {
  auto* train = app.add_subcommand("train", "Train in-process models from labeled data");
  train->require_subcommand(1);
  add_intent(*train, c);
  add_router(*train, c);
  add_multi_router(*train, c);
  add_scorer(*train, c);
}

std::optional<int> run_train_commands(const TrainCommands& c) {
  if (c.intent && c.intent->parsed()) return train_intent(c);
  if (c.router && c.router->parsed()) return train::run_train_router(c.router_opts);
  if (c.scorer && c.scorer->parsed()) return train::run_train_scorer(c.scorer_opts);
  if (c.multi_router && c.multi_router->parsed()) {
    return train::run_train_multi_router(c.multi_opts);
  }
  return std::nullopt;
}

}  // namespace triage::cli

#include "cli/train_cmd.h"

#ifndef TRIAGE_NO_MIMALLOC
#include <mimalloc.h>
#endif

#include <cstdio>

#include "ml/intent_trainer.h"

namespace triage::cli {

namespace {

// fastText's trainer fills a 120 MB table (its largest vocabulary) for every model, and a
// router's candidate search trains dozens. mimalloc returns a block that size to the OS when
// it is freed, so every model faulted its pages in again (most of a small router's training
// time: docs/performance.md, "Training time"). Blocks from an arena reserved up front stay
// mapped between models; committed (readable and writable), it still takes memory only as it
// is touched. (Reserved without committing, mimalloc did not use it.) If the reservation
// fails, training runs as before, only slower.
void keep_large_blocks_mapped() {
#ifndef TRIAGE_NO_MIMALLOC
  constexpr std::size_t kArenaBytes = std::size_t{256} << 20;
  mi_reserve_os_memory(kArenaBytes, /*commit=*/true, /*allow_large=*/true);
#endif
}

void add_intent(CLI::App& train, TrainCommands& c) {
  c.intent = train.add_subcommand("intent", "Intent classifier from CLINC150-format JSON lines");
  c.intent->add_option("--train", c.intent_train, "Training data (JSON lines: text, intent)")
      ->required();
  c.intent->add_option("--val", c.intent_val, "Validation data (same format)")->required();
  c.intent->add_option("--out", c.intent_out, "Model path (.bin); metadata goes next to it")
      ->required();
  c.intent->add_flag("--top1-only", c.intent_top1_only,
                     "Calibrate the top-1 probability alone, without the neighbour-agreement "
                     "maps and reference utterances (the recipe before format "
                     "triage-intent-neighbor/1)");
}

void add_router(CLI::App& train, TrainCommands& c) {
  train::TrainRouterOptions& o = c.router_opts;
  c.router = train.add_subcommand(
      "router", "Weak/strong router scorer from a pair dataset (RouteLLM format)");
  c.router->add_option("--dataset", o.dataset,
                       "CSV: prompt, weak_correct, strong_correct (or --from-store)");
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
  TrainFromStoreOptions& f = c.from_store;
  c.router->add_option("--from-store", f.store_path,
                       "Train on the labelled traffic of this SQLite request store "
                       "(docs/loop.md) instead of --dataset");
  c.router->add_option("--route", f.route, "--from-store: only requests this route served");
  c.router->add_option("--since", f.since,
                       "--from-store: only requests since (unix ms or YYYY-MM-DD[THH:MM[:SS]])");
  c.router->add_option("--min-labels", f.min_labels,
                       "--from-store: refuse with fewer training pairs (default 50)");
  c.router->add_option("--base", f.base,
                       "--from-store: the rows the previous version trained on (its "
                       "OUT.rows.csv), extended by the store's pairs");
  c.router->add_option("--tiers", f.tiers, "--from-store: tier order, cheapest first")
      ->delimiter(',');
  c.router->add_option("--weak-tier", f.weak_tier, "--from-store: default the first tier");
  c.router->add_option("--strong-tier", f.strong_tier, "--from-store: default the last tier");
  c.router->add_option("--compare", f.compare,
                       "--from-store: the serving version's router file, compared on the "
                       "held-out labelled rows");
  c.router->add_option("--strong-share", f.strong_share,
                       "--from-store: share sent strong by each version in the comparison "
                       "(default 0.5)");
  c.router->add_option("--version", o.version,
                       "Router version named by its decisions (default r-<8 hex of the data's "
                       "sha256>)");
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
  ml::IntentTrainOptions o;
  o.train_jsonl = c.intent_train;
  o.val_jsonl = c.intent_val;
  o.out_path = c.intent_out;
  o.neighbor_calibration = !c.intent_top1_only;
  auto r = ml::train_intent_model(o);
  std::printf(
      "trained %s: %d labels, validation accuracy %.4f, calibrated (%s) on %lld held-out rows "
      "(validation ECE %.3f -> %.3f), %.1f s\n",
      c.intent_out.c_str(), static_cast<int>(r.n_labels), r.validation_accuracy,
      r.calibration_method.c_str(), static_cast<long long>(r.n_calibration), r.ece_validation_raw,
      r.ece_validation_calibrated, r.train_seconds);
  return 0;
}

}  // namespace

void add_train_commands(CLI::App& app, TrainCommands& c) {
  auto* train = app.add_subcommand("train", "Train in-process models from labeled data");
  c.train = train;
  train->require_subcommand(1);
  add_intent(*train, c);
  add_router(*train, c);
  add_multi_router(*train, c);
  add_scorer(*train, c);
}

std::optional<int> run_train_commands(const TrainCommands& c) {
  if (c.train == nullptr || !c.train->parsed()) return std::nullopt;
  keep_large_blocks_mapped();
  if (c.intent && c.intent->parsed()) return train_intent(c);
  if (c.router && c.router->parsed()) {
    if (c.from_store.store_path.empty() == c.router_opts.dataset.empty()) {
      std::fprintf(stderr, "triage train router: give exactly one of --dataset and --from-store\n");
      return 1;
    }
    if (!c.from_store.store_path.empty()) {
      return run_train_router_from_store(c.from_store, c.router_opts);
    }
    return train::run_train_router(c.router_opts);
  }
  if (c.scorer && c.scorer->parsed()) return train::run_train_scorer(c.scorer_opts);
  if (c.multi_router && c.multi_router->parsed()) {
    return train::run_train_multi_router(c.multi_opts);
  }
  return std::nullopt;
}

}  // namespace triage::cli

#pragma once
// `triage train intent|router|multi-router|cascade-scorer`: flags and hand-off, kept out of
// main.cc (train/*.h and ml/intent_trainer.h say what the commands do).
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cli/train_from_store.h"
#include "train/train_multi_router.h"
#include "train/train_router.h"
#include "train/train_scorer.h"

namespace triage::cli {

struct TrainCommands {
  CLI::App* train = nullptr;  // the `train` command itself
  CLI::App* intent = nullptr;
  CLI::App* router = nullptr;
  CLI::App* multi_router = nullptr;
  CLI::App* scorer = nullptr;
  std::string intent_train, intent_val, intent_out;  // train intent --train, --val, --out
  bool intent_top1_only = false;                     // train intent --top1-only
  train::TrainRouterOptions router_opts;
  TrainFromStoreOptions from_store;  // train router --from-store (docs/loop.md)
  train::TrainMultiRouterOptions multi_opts;
  train::TrainScorerOptions scorer_opts;
};

// Adds `train` with its subcommands to `app`; `cmds` must outlive parsing.
void add_train_commands(CLI::App& app, TrainCommands& cmds);

// After parsing: the exit code when a train subcommand ran, else nullopt.
std::optional<int> run_train_commands(const TrainCommands& cmds);

}  // namespace triage::cli

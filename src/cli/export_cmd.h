#pragma once
// `triage export finetune|labels`: flags and dispatch, kept out of main.cc (see
// insights/export.h for what the commands do).
#include <CLI/CLI.hpp>

#include <optional>

#include "insights/export.h"

namespace triage::cli {

struct ExportCommands {
  CLI::App* finetune = nullptr;
  CLI::App* labels = nullptr;
  insights::ExportFinetuneOptions finetune_opts;
  insights::ExportLabelsOptions labels_opts;
  std::string tiers;  // --tiers a,b,c
};

// Adds `export` with its two subcommands to `app`; `cmds` must outlive parsing.
void add_export_commands(CLI::App& app, ExportCommands& cmds);

// After parsing: the exit code when an export subcommand ran, else nullopt.
std::optional<int> run_export_commands(ExportCommands& cmds);

}  // namespace triage::cli

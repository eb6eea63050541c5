#pragma once
// `triage export finetune|labels`: flags and dispatch, kept out of main.cc (see
// offline/export.h for what the commands do).
#include <CLI/CLI.hpp>

#include <optional>

#include "offline/export.h"

namespace triage::cli {

struct ExportCommands {
  CLI::App* finetune = nullptr;
  CLI::App* labels = nullptr;
  offline::ExportFinetuneOptions finetune_opts;
  offline::ExportLabelsOptions labels_opts;
  std::string tiers;  // --tiers a,b,c
};

// Adds `export` with its two subcommands to `app`; `cmds` must outlive parsing.
void add_export_commands(CLI::App& app, ExportCommands& cmds);

// After parsing: the exit code when an export subcommand ran, else nullopt.
std::optional<int> run_export_commands(ExportCommands& cmds);

}  // namespace triage::cli

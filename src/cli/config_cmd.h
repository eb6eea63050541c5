#pragma once
// `triage config validate FILE` and `triage config diff OLD NEW` (docs/config_versions.md):
// offline, with the same checks as `serve` at start-up and at a hot reload.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace triage::cli {

struct ConfigCommands {
  CLI::App* validate = nullptr;
  CLI::App* diff = nullptr;
  std::string file;      // validate
  std::string old_file;  // diff
  std::string new_file;
};

// Adds `config` with its two subcommands to `app`; `cmds` must outlive parsing.
void add_config_commands(CLI::App& app, ConfigCommands& cmds);

// After parsing: the exit code when a config subcommand ran, else nullopt. validate: 0 and
// "ok: N models, M routes (sha256 H)", or the errors on stderr and 1. diff: 0, one line per
// change ("no changes" when none); 1 when either file is invalid.
std::optional<int> run_config_commands(const ConfigCommands& cmds);

}  // namespace triage::cli

#pragma once
// `triage serve` and `triage version`: flags and hand-off, kept out of main.cc.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace triage::cli {

struct ServeCommands {
  CLI::App* serve = nullptr;
  CLI::App* version = nullptr;
  std::string config_path;  // -c
  std::string listen;       // --listen HOST:PORT, ":PORT" or "PORT"
  std::string store_path;   // --store
};

// Adds `serve` and `version` to `app`; `cmds` must outlive parsing.
void add_serve_commands(CLI::App& app, ServeCommands& cmds);

// After parsing: the exit code when one of them ran, else nullopt. Throws config::ConfigError
// (a bad config or --listen).
std::optional<int> run_serve_commands(const ServeCommands& cmds);

}  // namespace triage::cli

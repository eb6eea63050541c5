// triage: thin command-line front end. Parses flags and hands off to a module; each command
// group keeps its flags and hand-off in its own file (cli/*_cmd.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <optional>

#include "cli/config_cmd.h"
#include "cli/eval_cmd.h"
#include "cli/export_cmd.h"
#include "cli/insights_cmd.h"
#include "cli/serve_cmd.h"
#include "cli/train_cmd.h"
#include "config/config.h"

int main(int argc, char** argv) {
  namespace cli = triage::cli;
  CLI::App app{"Triage: a multi-model LLM gateway that routes each request to the cheapest model "
               "that can handle it"};
  app.require_subcommand(1);
  cli::ServeCommands serve;
  cli::add_serve_commands(app, serve);
  cli::TrainCommands train;
  cli::add_train_commands(app, train);
  cli::EvalCommand eval;
  cli::add_eval_command(app, eval);
  cli::InsightsCommands insights;
  cli::add_insights_commands(app, insights);
  cli::ExportCommands exports;
  cli::add_export_commands(app, exports);
  cli::ConfigCommands configs;
  cli::add_config_commands(app, configs);

  CLI11_PARSE(app, argc, argv);

  try {
    std::optional<int> code = cli::run_serve_commands(serve);
    if (!code) code = cli::run_train_commands(train);
    if (!code) code = cli::run_eval_command(eval);
    if (!code) code = cli::run_insights_commands(insights);
    if (!code) code = cli::run_export_commands(exports);
    if (!code) code = cli::run_config_commands(configs);
    return code.value_or(0);
  } catch (const triage::config::ConfigError& e) {
    std::fprintf(stderr, "triage: config error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "triage: %s\n", e.what());
    return 1;
  }
}

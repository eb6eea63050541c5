#pragma once
// `triage eval`: flags and hand-off, kept out of main.cc (eval/eval.h says what it does).
#include <CLI/CLI.hpp>

#include <optional>

#include "eval/eval_options.h"

namespace triage::cli {

struct EvalCommand {
  CLI::App* eval = nullptr;
  eval::EvalOptions options;
};

// Adds `eval` to `app`; `cmd` must outlive parsing.
void add_eval_command(CLI::App& app, EvalCommand& cmd);

// After parsing: the exit code when `eval` ran, else nullopt.
std::optional<int> run_eval_command(const EvalCommand& cmd);

}  // namespace triage::cli

#include "cli/eval_cmd.h"

#include "eval/eval.h"

namespace triage::cli {

void add_eval_command(CLI::App& app, EvalCommand& c) {
  eval::EvalOptions& o = c.options;
  c.eval = app.add_subcommand(
      "eval", "Run a route over a dataset in-process (same engine as serve) and score it");
  c.eval->add_option("-c,--config", o.config_path, "Config file (YAML)")->required();
  c.eval->add_option("--route", o.route, "Route to evaluate (default: default)");
  c.eval->add_option("--dataset", o.dataset, "Dataset file")->required();
  c.eval->add_flag("--sweep", o.sweep, "Sweep the route's knob over its range");
  c.eval->add_option("--cv", o.cv_folds,
                     "Choose the knob by K-fold cross-validation and score it on held-out folds "
                     "(implies --sweep)")
      ->check(CLI::Range(2, 100));
  c.eval->add_option("--format", o.format, "text | json")->check(CLI::IsMember({"text", "json"}));
  c.eval->add_option("--plot", o.plot_path,
                     "Write the cost-quality curve as SVG (.svg) or PNG (.png)");
  c.eval->add_option("--split", o.split,
                     "auto | test | all | train (multi-model routes without a predictor: the "
                     "complement of the test part, to choose a knob with --cv)")
      ->check(CLI::IsMember({"auto", "test", "all", "train"}));
  c.eval->add_option("--exclude-category", o.exclude_categories,
                     "Leave a category out (repeatable)");
}

std::optional<int> run_eval_command(const EvalCommand& c) {
  if (c.eval && c.eval->parsed()) return eval::run_eval(c.options);
  return std::nullopt;
}

}  // namespace triage::cli

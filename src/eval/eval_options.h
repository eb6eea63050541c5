#pragma once
// The options of `triage eval` (the CLI's flags), shared by every evaluator.
#include <string>
#include <vector>

namespace triage::eval {

struct EvalOptions {
  std::string config_path;       // -c
  std::string route = "default"; // --route
  std::string dataset;           // --dataset
  bool sweep = false;            // --sweep
  int cv_folds = 0;              // --cv K (0: none); implies the sweep (eval/eval_cv.h)
  std::string format = "text";   // --format text|json
  std::string plot_path;         // --plot out.svg (empty: no plot)
  std::string split = "auto";    // --split auto|test|all|train (see each evaluator's data rules)
  std::vector<std::string> exclude_categories;  // --exclude-category X (repeatable); counted
  int sweep_points = 51;         // strong-share targets 0%, 2%, ..., 100%
  bool progress = true;          // progress bar on stderr, only when stderr is a TTY
};

}  // namespace triage::eval

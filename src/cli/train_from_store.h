#pragma once
// `triage train router --from-store DB` (docs/loop.md): a new router version trained on the
// labelled traffic of a request store. Steps:
//  1. the pairs (insights/store_pairs.h: labels, feedback, shadow runs -> weak/strong grades),
//     refused below --min-labels;
//  2. the training rows: --base (the rows the previous version was trained on) extended by the
//     pairs (a pair replaces a base row with the same id), written next to the model as
//     OUT.rows.csv: the data whose SHA-256 names the default version, and the --base of the
//     next retrain;
//  3. `triage train router` on those rows (train/train_router.h: its split, cross-fitting and
//     held-out metrics);
//  4. a one-screen comparison with the serving version (--compare FILE) on the rows of the
//     held-out test part, which the new version never trained on: each version's routing
//     quality (agreement of its decisions at --strong-share with the labels: strong exactly
//     where the weak answer was not good enough) and APGR.
// Offline, blocking; reads the store read-only (stored prompts are read only here, with the
// store file, as `triage export` does).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "train/train_router.h"

namespace triage::cli {

struct TrainFromStoreOptions {
  std::string store_path;  // --from-store
  std::string route;       // --route: only requests this route served
  std::string since;       // --since: unix ms, or YYYY-MM-DD[THH:MM[:SS]][Z] (UTC)
  int64_t min_labels = 50;
  std::string base;  // --base CSV (RouteLLM format); empty: none
  std::vector<std::string> tiers = {"small", "medium", "large"};
  std::string weak_tier, strong_tier;  // empty: the first and the last of `tiers`
  std::string compare;                 // --compare: the serving version's router file
  double strong_share = 0.5;           // decisions of both versions for the comparison
};

// Parses --since; nullopt for an empty string. Throws std::invalid_argument on a bad value.
std::optional<int64_t> parse_since(const std::string& since);

// The CLI entry: `router` carries --out, --version and the training options (its dataset is
// set here). Prints the report; returns the exit code (1 with a message on stderr on errors
// and on too few labels).
int run_train_router_from_store(const TrainFromStoreOptions& o,
                                train::TrainRouterOptions router);

}  // namespace triage::cli

#pragma once
// `triage eval --cv K`: the route's knob chosen by K-fold cross-validation and scored on the
// held-out fold, so the reported operating point was never chosen on the rows that score it.
//
// Folds: row i goes to fold FNV-1a-64(key_i) mod K, key_i = the row's prompt text (rows with the
// same prompt share a fold, so a duplicate cannot be chosen on and scored on). Fixed: the same
// file gives the same folds on every run and machine.
//
// Criterion (per fold, on the other K-1 folds): the reference is the reference model with the
// highest quality on those folds (a pair: the strong model; multi-model: the best single model);
// the chosen knob value is the CHEAPEST (total cost) whose quality >= reference quality - 0.01;
// when none reaches it, the knob value of highest quality. Then the chosen value, the reference
// and the route are scored on the held-out fold. With a pair, the held-out fold's APGR (area
// under the PGR curve over the knob's sweep, which needs no choice) is reported too.
//
// Pure computation over per-row outcomes the evaluator already measured (one sweep over all
// rows): running the route once per knob value, not once per fold.
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace triage::eval {

// Per-row outcomes of one policy (a knob value of the route, or a reference model alone).
struct CvPolicy {
  std::string name;              // reference: the model; knob value: unused
  double knob = 0.0;             // knob value (policies in CvInput::points)
  std::vector<double> quality;   // per row: grade of the answer (errors/ungraded 0)
  std::vector<double> cost;      // per row: USD
  std::vector<double> strong;    // per row: 1 when the strong model answered (pairs; else empty)
};

struct CvInput {
  int folds = 5;
  std::vector<std::string> keys;        // per row: the fold key (the prompt)
  std::vector<CvPolicy> points;         // the route at each knob value of the sweep
  std::vector<CvPolicy> references;     // the single models the criterion compares against
  std::optional<CvPolicy> weak;         // a pair's weak model alone (enables APGR)
  double tolerance = 0.01;              // "within 1 pt"
};

struct CvStat {
  double mean = 0.0, sd = 0.0, min = 0.0, max = 0.0;  // over folds (sd: sample, n-1)
};

struct CvFold {
  int fold = 0;
  int64_t n_choose = 0, n_score = 0;  // rows that chose / scored
  double knob = 0.0;                  // the chosen value
  bool reached = false;               // the choice met the criterion on the choosing folds
  std::string reference;              // the reference model chosen on the choosing folds
  double quality = 0.0, reference_quality = 0.0;  // on the held-out fold
  double cost_usd = 0.0, reference_cost_usd = 0.0;
  double quality_gap = 0.0;           // quality - reference_quality
  double cost_ratio = 0.0;            // cost_usd / reference_cost_usd (0 when reference costs 0)
  std::optional<double> apgr;         // pairs
};

struct CvResult {
  int k = 0;
  std::string fold_rule;   // how rows were assigned
  std::string criterion;   // how the knob was chosen
  std::string rows;        // which rows took part (the evaluator's split) and scorer provenance
  std::vector<CvFold> folds;
  CvStat quality_gap, cost_ratio, quality, knob;
  std::optional<CvStat> apgr;
  // Over all held-out rows pooled (each row scored once, by its own fold's choice).
  double pooled_quality = 0.0, pooled_reference_quality = 0.0, pooled_cost_ratio = 0.0;
  // The knob the criterion picks on ALL rows (what to configure for use on new data).
  double chosen_on_all = 0.0;
  bool chosen_on_all_reached = false;
};

// The fold of `key` among `k` (FNV-1a 64 of the bytes, mod k).
int cv_fold(std::string_view key, int k);

// Runs the cross-validation. Throws std::invalid_argument when k < 2, a fold is empty, the
// per-row vectors disagree in length, or there are no points or references.
CvResult cross_validate(const CvInput& in);

boost::json::object cv_json(const CvResult& r);
std::string cv_text(const CvResult& r, std::string_view knob_name);

}  // namespace triage::eval

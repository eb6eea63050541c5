#pragma once
// `triage eval`'s multi-model evaluator: a route over multi-model data (RouterBench format:
// `<model>|score`, `<model>|cost`, `<model>|response` per model; eval/eval.h says which routes
// come here). Runs the route over the dataset IN-PROCESS through the same route engine as
// `serve` (replay providers answering each model's recorded response), sweeps the bar of a
// candidates route (routes::CandidatesEval, `predict`) with --sweep (0.00, 0.01, ..., 1.00), or
// the first knob of any other Tunable route (a cascade's `agreement` min_agree: every step of
// its range), and reports the cost-quality curve against every single model, the oracle and
// random routing.
//
// Data rules (everything excluded is counted and reported):
//  - Catalog models: every `replay` model whose response column resolves to a RouterBench model
//    of the file (a bare name or `<model>|response`) is a baseline; its grade column is its
//    replay `score_column` or `<model>|score`, its cost column `<model>|cost`.
//  - Split: when the route is a candidates route whose predictor was trained on this file (its
//    SHA-256 is among the metadata's data_files), only the held-out test part (the stored split
//    rule, re-applied by id) is evaluated. --split test forces it, --split all disables it.
//    Any other route (cascade, ensemble...) is evaluated on the test part of the default split
//    (SplitRule{}: id hash, seed 20240601, 20% test), the part its configuration must not have
//    been tuned on; --split all disables it.
//  - MISSING grades: a row where any baseline model's grade is empty is EXCLUDED from every
//    policy and baseline (complete cases: all numbers below are over the same rows), and the
//    empty cells are counted per model (in the file, and in the evaluated part). Never read as
//    0. A model that answered but has no grade column (not a baseline) counts 0 and `ungraded`.
//  - COST of a row = the SUM of the dataset's recorded `<model>|cost` (real USD of that call in
//    the original RouterBench run) over EVERY model call the route made for the row (a
//    cascade's rejected steps, an agreement check's second opinions, an ensemble's children),
//    not the engine's token estimate. An empty cost cell (or a model without a cost column)
//    falls back to the engine's estimate for that call and is counted (`missing_cost`).
//  - QUALITY of a row = the recorded grade of the model whose answer the route returned.
//  - Oracle: per row, the cheapest (by recorded cost) candidate that is correct (grade >= 0.5);
//    when none is, the cheapest candidate. Random: a uniformly random candidate per row
//    (expected values, exact). Candidates: the route's candidates for a candidates route, else
//    every baseline model.
//  - Routing rates against the oracle, per point: accurate (cost <= oracle's and correct, or
//    the cheapest when no candidate is correct), over-routing (a pricier model than the oracle's
//    and no worse), under-routing (a wrong answer where a pricier candidate was correct), other
//    (a wrong answer where only cheaper candidates were correct).
//  - Top-level numbers: best_model / best_quality = the baseline with the highest quality;
//    cost_ratio_at_best_quality = the lowest total cost among the route's points whose quality
//    >= best_quality - 0.01, divided by the best model's total cost (null when never reached).
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datasets/eval_data.h"
#include "eval/eval_cv.h"
#include "eval/eval_options.h"
#include "routes/eval_family.h"

namespace triage::eval {

class EvalEngine;

struct MultiRouting {
  double accuracy = 0.0, over = 0.0, under = 0.0, other = 0.0;  // shares of rows, sum 1
};

struct MultiPoint {
  double bar = 0.0;  // the knob's value (MultiEvalResult::knob)
  int64_t n = 0;
  double quality = 0.0;   // mean grade of the answering model (errors count 0)
  double cost_usd = 0.0;  // total recorded cost
  double cpi_usd = 0.0;
  std::map<std::string, double> share;  // catalog model -> share of rows it answered
  std::map<std::string, double> calls;  // catalog model -> its calls per row (any purpose)
  MultiRouting routing;
  int64_t errors = 0, ungraded = 0, missing_cost = 0;
  int64_t routing_us = 0;
};

struct ModelBaseline {
  std::string model;          // catalog name
  std::string dataset_model;  // RouterBench name
  double quality = 0.0;
  double cost_usd = 0.0;  // total recorded cost over the evaluated rows
  double cpi_usd = 0.0;
};

struct MultiEvalResult {
  std::string config_path, route, route_kind, dataset, dataset_sha256, split_applied;
  int64_t n_rows_file = 0, n_rows = 0, n_excluded_train = 0, n_missing_prompt = 0;
  int64_t n_excluded_missing = 0;  // rows of the evaluated part with a missing baseline grade
  std::map<std::string, int64_t> missing_cells_file;  // dataset model -> empty score cells
  std::map<std::string, int64_t> missing_cells_part;  // same, in the part before exclusion
  std::vector<std::string> candidates;
  std::string knob;  // the swept knob: "bar" (predict), a knob name, or "" (none)
  MultiPoint operating;
  std::vector<MultiPoint> points;  // sweep, by increasing cost
  bool swept = false;
  std::vector<ModelBaseline> models;
  ModelBaseline oracle, random;
  std::string best_model;
  double best_quality = 0.0, best_cost_usd = 0.0;
  std::optional<double> cost_ratio_at_best_quality;
  std::optional<double> quality_at_40pct_cost;  // best route quality at <= 40% of best's cost
  std::optional<CvResult> cv;   // with --cv K
  double seconds = 0.0;
};

// The lowest cost among `points` (cost, quality) with quality >= target, divided by
// `reference_cost`; nullopt when no point reaches the target or reference_cost <= 0.
std::optional<double> cost_ratio_at_quality(
    const std::vector<std::pair<double, double>>& points, double target, double reference_cost);

// Evaluates engine.route() over `data` (multi-model CSV). `candidates`: the route's family when
// it chooses among candidates, else nullptr. MultiEvalResult::seconds is left to the caller
// (eval::evaluate). Throws std::runtime_error (no baseline model, a candidate without grades, no
// prompt column, no rows).
MultiEvalResult evaluate_multi(const EvalOptions& options, const datasets::EvalData& data,
                               EvalEngine& engine, const routes::CandidatesEval* candidates);
boost::json::object eval_multi_json(const MultiEvalResult& r);
std::string eval_multi_text(const MultiEvalResult& r);
std::string eval_multi_svg(const MultiEvalResult& r);

}  // namespace triage::eval

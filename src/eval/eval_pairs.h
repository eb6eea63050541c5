#pragma once
// `triage eval`'s pair evaluator: a route over graded CSV data (eval/eval.h says which routes and
// data come here), run IN-PROCESS through the serving engine (eval/eval_engine.h), measuring
// quality and cost; with --sweep it moves the route's knob (the threshold of a `threshold`
// route) across the range and, for a weak/strong pair, reports the pair metrics of
// ml/pair_metrics.h (PGR per point, APGR, CPT(50%), CPT(80%)) with the baselines all-weak,
// all-strong, random and oracle, plus routing accuracy against the oracle.
//
// The pair: a weak/strong route names it (routes::WeakStrongEval); for any other route it is
// the two replay models with grades in the dataset, the cheaper one weak.
//
// Data rules (honest by construction; everything excluded is counted and reported):
//  - Each dataset row becomes one request with a single user message (the prompt column) and,
//    when the dataset has a `subject` or `category` column, that value as the request category
//    (what a client sends as x-triage-category).
//  - Replay models in the config replay the --dataset file (their `replay.dataset` is replaced),
//    so any file of the same format can be evaluated.
//  - Quality of a row = the recorded grade, in the dataset, of the model that answered: its
//    replay score_column (or the one derived from its response column: weak -> weak_correct,
//    X|response -> X|score). Grades are read per row, so duplicate prompts keep their own grade.
//    A row that fails in the engine or whose answering model has no grade counts as 0 and is
//    reported (errors / ungraded).
//  - Datasets without response text (MMLU): a replay model whose response column is absent
//    from the dataset answers, in eval only and only with `synthesize_missing: true`, a marked
//    placeholder (Completion.synthesized; eval/eval_engine.h); its quality still comes from the
//    recorded grade. Token counts and costs of such answers are estimates from the placeholder;
//    the pair metrics use the share of strong calls as the cost axis, as RouteLLM does.
//  - When the route's scorer was trained on this dataset (same file SHA-256 as recorded in its
//    metadata), only the rows of the held-out test part are used (the split rule stored in the
//    metadata, re-applied by id). EvalOptions::split overrides: "test" always applies the rule,
//    "all" never does.
//
// Blocking and CPU-bound: runs the engine's io_context on the calling thread. Throws
// std::runtime_error (no prompt column, no rows) and ml::ModelError from evaluate_pairs().
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datasets/eval_data.h"
#include "eval/eval_cv.h"
#include "eval/eval_options.h"
#include "ml/pair_metrics.h"
#include "routes/eval_family.h"

namespace triage::eval {

class EvalEngine;

// One evaluated setting of the route.
struct EvalPoint {
  double threshold = 0.0;      // the knob (NaN-free; only meaningful for threshold routes)
  int64_t n = 0;
  double quality = 0.0;        // mean recorded grade of the answering model (errors count 0)
  double cost_usd = 0.0;       // total over the rows
  double cpi_usd = 0.0;        // cost / n
  std::map<std::string, double> share;  // model -> share of rows it answered
  double strong_share = 0.0;   // pairs only
  double pgr = 0.0;            // pairs only
  ml::RoutingRates routing;        // pairs only
  int64_t errors = 0;          // rows the engine answered with an error
  int64_t ungraded = 0;        // answered by a model without a grade for that row
  int64_t routing_us = 0;      // summed Trace.routing_us
};

struct EvalResult {
  std::string config_path, route, route_kind, dataset, dataset_sha256;
  std::string split_applied;   // "test part of <model>'s split" or "none (...)"
  int64_t n_rows_file = 0, n_rows = 0;
  int64_t n_excluded_train = 0, n_excluded_category = 0, n_missing_prompt = 0;
  // Evaluated rows whose prompt is among a gain scorer's training prompts (it ships them):
  // their scores see their own grades, so the numbers are optimistic for them.
  int64_t n_in_scorer_training = 0;
  bool is_pair = false;
  std::string weak_model, strong_model;
  bool swept = false;
  EvalPoint operating;          // the route as configured
  std::vector<EvalPoint> points;  // sweep, by increasing strong share
  std::optional<EvalPoint> all_weak, all_strong;  // the weak/strong models alone, same engine
  double oracle_quality = 0.0, oracle_strong_share = 0.0, oracle_apgr = 0.0;
  std::vector<ml::QualityPoint> oracle;  // oracle quality vs strong share
  int64_t n_pair_rows = 0;      // rows with both grades (pair metrics use these)
  std::optional<double> apgr, cpt50, cpt80;  // with a sweep over a pair
  std::optional<CvResult> cv;   // with --cv K
  double seconds = 0.0;
};

// Evaluates engine.route() over `data` (CSV). `weak_strong`: the route's family when it is a
// weak/strong pair, else nullptr. EvalResult::seconds is left to the caller (eval::evaluate).
EvalResult evaluate_pairs(const EvalOptions& options, const datasets::EvalData& data,
                          EvalEngine& engine, const routes::WeakStrongEval* weak_strong);

boost::json::object eval_json(const EvalResult& r);
std::string eval_text(const EvalResult& r);
std::string eval_svg(const EvalResult& r);

}  // namespace triage::eval

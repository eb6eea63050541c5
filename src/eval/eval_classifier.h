#pragma once
// `triage eval`'s intent evaluator: a route of the intent-bands family (routes::IntentBandsEval,
// `classify`) over labeled intent data (CLINC150 JSON lines: {"text": ..., "intent": ...}, with
// "oos" for out-of-scope queries; datasets/eval_data.h).
//
// Definitions (docs/evaluation.md):
//  - A query is RIGHT when the classifier's predicted label equals the gold intent. An oos query
//    is right only when predicted "oos"; an in-scope query predicted "oos" is wrong.
//  - Its band is the classify route's band for its calibrated confidence (use / flag /
//    escalate), from the family's decide(), ClassifyRoute::decide(): the function run() uses.
//  - use_band_coverage = share of all rows (in-scope + oos) in the use band;
//    use_band_accuracy = share of those that are right (null when the band is empty). The same
//    for the flag and escalate bands, and per part (in-scope, oos).
//  - ECE: 15 equal-width bins of the calibrated top-1 confidence vs rightness; also for the raw
//    probability. The reliability table has 10 bins.
//  - Out of scope: oos_in_use_band_share / oos_in_flag_band_share = share of the oos rows in
//    that band, whatever their label; oos_answered_in_use_band_share = share of the oos rows in
//    the use band with an IN-SCOPE label (the small tier answers them with a wrong template:
//    the failure the oos target exists to prevent). An oos row predicted "oos" goes to the
//    route's oos target, in whatever band.
//  - use_threshold_curve: coverage and accuracy of "confidence >= t" for a range of t, the
//    trade-off a `bands.use` setting buys (computed from the same decisions; no rerun), with the
//    counts behind them (cross-validation sums them over folds: scripts/cv_clinc_bands.py).
//
// Every row also runs through the route in-process (route.run(), same engine as serve): the
// answering-model shares, cost and routing time come from those traces. Catalog models with a
// provider other than `local` answer an eval-only marked placeholder (eval/eval_engine.h: no
// network; costs are estimates from the placeholder's token count). Rows without a string text
// and intent are skipped and counted (n_invalid_rows), never scored.
//
// Blocking, on the calling thread.
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datasets/eval_data.h"
#include "eval/eval_options.h"
#include "ml/calibration.h"
#include "routes/eval_family.h"

namespace triage::eval {

class EvalEngine;

struct BandStats {
  int64_t n = 0;
  int64_t right = 0;
  double share(int64_t total) const { return total ? static_cast<double>(n) / total : 0.0; }
  std::optional<double> accuracy() const {
    return n ? std::optional<double>(static_cast<double>(right) / n) : std::nullopt;
  }
};

struct BandSet {
  BandStats use, flag, escalate;
  int64_t total = 0;
};

struct CurvePoint {
  double use = 0.0;
  double coverage = 0.0;
  std::optional<double> accuracy;
  int64_t n = 0, right = 0;           // rows with confidence >= use, and right ones
  int64_t oos_n = 0;                  // ... of them out of scope
  int64_t oos_answered = 0;           // ... out of scope with an in-scope label
};

struct ClassifierEvalResult {
  std::string config_path, route, route_kind, dataset, dataset_sha256;
  std::string calibration_method;
  double band_use = 0.0, band_flag = 0.0;
  int64_t n_rows = 0, n_in_scope = 0, n_oos = 0, n_invalid_rows = 0;
  double accuracy = 0.0;  // top-1, all rows
  BandSet all, in_scope, oos;
  int64_t n_escalated = 0;       // escalate band, moved one tier up
  int64_t n_low_confidence = 0;  // escalate band, no tier above: stayed
  int64_t oos_predicted_oos = 0;
  int64_t oos_answered_in_use = 0;  // oos rows in the use band with an in-scope label
  double ece = 0.0, ece_raw = 0.0;
  std::vector<ml::ReliabilityBin> reliability;
  std::vector<CurvePoint> curve;
  // From the engine run.
  std::map<std::string, double> share;  // answering model -> share of rows
  double cost_usd = 0.0;
  int64_t errors = 0;
  int64_t routing_us = 0;
  int64_t band_mismatches = 0;  // traces whose flags disagree with decide(): must be 0
  double seconds = 0.0;
};

// Evaluates engine.route(), whose family is `bands`, over `data` (intent lines).
// ClassifierEvalResult::seconds is left to the caller (eval::evaluate).
ClassifierEvalResult evaluate_classifier(const EvalOptions& options, const datasets::EvalData& data,
                                         EvalEngine& engine, const routes::IntentBandsEval& bands);
boost::json::object classifier_eval_json(const ClassifierEvalResult& r);
std::string classifier_eval_text(const ClassifierEvalResult& r);
// Reliability diagram (calibrated confidence vs accuracy) as SVG.
std::string classifier_eval_svg(const ClassifierEvalResult& r);

}  // namespace triage::eval

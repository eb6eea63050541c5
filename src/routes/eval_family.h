#pragma once
// How `triage eval` evaluates a route: its evaluation family. A route kind declares its family
// in its own header by overriding Route::eval_family(); eval maps each family to an evaluator
// (eval/eval.h, evaluator_for), and where a family fits several, the dataset's format chooses.
// routes never include eval: a new kind picks one of these families, a new family comes with
// its evaluator in eval.
//
// What a family holds refers into its route (names, a knob, the route's own decision): valid
// as long as the route, i.e. its RouteTable.
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "routes/bands.h"

namespace triage::routes {

class Knob;

// Any route (the default): run as serving runs it, graded by the model that answered. Graded
// CSV data: pair metrics when exactly two replay models have grades; multi-model data
// (`<model>|score` columns): the cost-quality curve against every single model. A sweep moves
// the route's first knob.
struct AnyDatasetEval {};

// A choice between two children by a per-request score against the route's knob
// (`threshold`): pair metrics (PGR, APGR, CPT) on any CSV data, with weak and strong named by
// the route rather than guessed from the grade columns.
struct WeakStrongEval {
  std::string weak, strong;  // the children's names (catalog models or routes)
  // Whether `prompt` is among the rows the route's scorer ships and searches (a gain router's
  // references: its score of such a prompt has seen the prompt's own grades). Empty: none.
  std::function<bool(const std::string& prompt)> in_scorer_training;
};

// A choice among candidate models by predicted scores against a bar (`predict`). Multi-model
// data: the candidates are what the oracle and random routing choose among, the evaluated part
// is the test part of the predictor's split (bar->model_path()'s metadata), a sweep moves the
// bar over 0.00, 0.01, ..., 1.00. Graded CSV data: as AnyDatasetEval.
struct CandidatesEval {
  std::vector<std::string> candidates;  // catalog model names, in the route's order
  Knob* bar = nullptr;                  // never null
};

// A label with a calibrated confidence, and bands that decide use / flag / escalate
// (`classify`). Labeled intent data (JSON lines): accuracy per band, calibration error and the
// use-threshold curve, from `decide` (what run() decides). CSV data: as AnyDatasetEval.
struct IntentBandsEval {
  std::function<ClassifyDecision(std::string_view text)> decide;
  Bands bands;
  std::string calibration;  // the calibration method's name, for the report
};

using EvalFamily = std::variant<AnyDatasetEval, WeakStrongEval, CandidatesEval, IntentBandsEval>;

}  // namespace triage::routes

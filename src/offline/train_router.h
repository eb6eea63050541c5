#pragma once
// `triage train router`: a weak/strong router scorer (fastText) from a pair dataset in RouteLLM
// format: columns `prompt`, `weak_correct`, `strong_correct` (grades 0..1), optionally `id`
// (the split key; else the prompt) and `subject` or `category` (a request-category feature).
//
// Protocol (honest by construction):
//  1. Fixed split by offline::SplitRule (hash of the id, seed recorded): 20% test is never
//     read for training, model selection or calibration; of the rest, 16% of all rows form a
//     calibration slice and 64% the fit part.
//  2. Candidates (training label x features x hyperparameters) are trained on the fit part and
//     compared by APGR on the calibration slice. Labels: "strong_needed" (strong right and weak
//     wrong) and "weak_fails" (weak wrong); features: the prompt, and the category token +
//     prompt when the dataset has a category column.
//  3. The chosen model's fastText probability is Platt-scaled on the calibration slice to
//     P(strong needed), whatever label it was trained on.
//  4. Test-part metrics (APGR, CPT(50%), CPT(80%), ECE of P(strong needed), with and without
//     `exclude_subject`), computed with routes::ThresholdScorer, i.e. exactly what serving runs.
// Writes the model and its metadata (model + ".json": the ml metadata plus a "router" block
// that routes::ThresholdScorer reads). Blocking, CPU-bound; offline only. Throws
// ml::ModelError or CsvError with the file in the message.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "offline/dataset_rows.h"  // parse_number_cell, file_sha256
#include "offline/split.h"
#include "offline/train_common.h"  // fit_logistic

namespace triage::offline {

struct TrainRouterOptions {
  std::string dataset;   // RouteLLM-format CSV
  std::string out_path;  // e.g. models/mmlu_router.bin
  std::string label = "auto";     // strong_needed | weak_fails | auto (best on calibration)
  std::string features = "auto";  // prompt | category+prompt | auto (best on calibration)
  SplitRule split;
  // Reported separately (metrics with and without it); never silently dropped.
  std::string exclude_subject = "high_school_mathematics";
  int threads = 1;  // fastText threads; 1 keeps training reproducible
  // With a category column: also feed the category's training rate of "strong needed" to the
  // calibration (see routes/threshold_route.h). false: plain Platt scaling.
  bool category_rates = true;
};

struct SubsetMetrics {
  int64_t n = 0;
  double weak_quality = 0.0;
  double strong_quality = 0.0;
  double apgr = 0.0;
  std::optional<double> cpt50;
  std::optional<double> cpt80;
  double ece = 0.0;       // 10 equal-width bins of calibrated P(strong needed)
  double brier = 0.0;
  double positive_rate = 0.0;  // share of rows where strong was needed
};

struct CandidateResult {
  std::string label;
  std::string features;
  int epoch = 0;
  double lr = 0.0;
  int word_ngrams = 0;
  int dim = 0;
  double calibration_apgr = 0.0;
};

struct TrainRouterReport {
  std::string model_path;
  std::string metadata_path;
  std::string data_file_sha256;
  int64_t n_rows = 0;
  int64_t n_skipped = 0;  // rows without a prompt or a grade (counted, not used)
  int64_t n_fit = 0, n_calibration = 0, n_test = 0;
  std::vector<CandidateResult> candidates;
  CandidateResult chosen;
  double platt_a = 1.0, platt_b = 0.0, category_weight = 0.0;
  SubsetMetrics calibration;           // on the calibration slice (used for selection)
  SubsetMetrics test;                  // held-out test part, all rows
  std::optional<SubsetMetrics> test_without_excluded;  // when exclude_subject occurs
  double seconds = 0.0;
};

TrainRouterReport train_router(const TrainRouterOptions& options);

// Human-readable report (what `triage train router` prints).
void print_train_router_report(const TrainRouterReport& r, const TrainRouterOptions& o,
                               std::ostream& out);

// CLI entry: trains, prints the report to stdout; errors to stderr. Returns an exit code.
int run_train_router(const TrainRouterOptions& options);

}  // namespace triage::offline

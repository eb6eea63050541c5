#pragma once
// `triage train router`: a weak/strong router scorer (fastText) from a pair dataset in RouteLLM
// format: columns `prompt`, `weak_correct`, `strong_correct` (grades 0..1), optionally `id`
// (the split key; else the prompt) and `subject` or `category` (a request-category feature).
//
// Protocol (honest by construction):
//  1. Fixed split by datasets::SplitRule (hash of the id, seed recorded): 20% test is never
//     read for training, model selection or calibration. The other 80% (the train part) is
//     cross-fitted: K folds by a hash of the id (train::fold_of).
//  2. Candidates (training label x fastText hyperparameters x category smoothing) are compared
//     by the APGR of their out-of-fold scores over the whole train part: for each fold, a
//     fastText model trained on the other folds scores it; the category rates a row sees are
//     computed from the other folds too; the stacker below is fitted on those out-of-fold
//     inputs. Labels: "strong_needed" (strong right and weak wrong) and "weak_fails" (weak
//     wrong); features: the prompt, with the category token in front when the dataset has a
//     category column.
//  3. The chosen candidate's fastText model is retrained on the whole train part. The stacker,
//     a logistic regression of "strong needed" on logit(fastText p) and, with a category column,
//     logit(the category's smoothed rate of "strong needed"), is fitted on the out-of-fold
//     inputs: its output is the calibrated P(strong needed) that serving computes
//     (ml::ThresholdScorer); the rates it stores come from the whole train part.
//  4. Test-part metrics (APGR, CPT(50%), CPT(80%), ECE of P(strong needed), with and without
//     `exclude_subject`), computed with ml::ThresholdScorer, i.e. exactly what serving runs.
// Writes the model and its metadata (model + ".json": the ml metadata plus a "router" block
// that ml::ThresholdScorer reads). Blocking, CPU-bound; offline only. Throws
// ml::ModelError or CsvError with the file in the message.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "datasets/dataset_rows.h"  // parse_number_cell, file_sha256
#include "datasets/split.h"
#include "train/train_common.h"  // fit_logistic

namespace triage::train {

struct TrainRouterOptions {
  std::string dataset;         // RouteLLM-format CSV
  std::string out_path;        // e.g. models/mmlu_router.bin
  std::string label = "auto";  // strong_needed | weak_fails | auto (best out-of-fold APGR)
  // prompt | category+prompt | auto: category+prompt when the dataset has a category column,
  // else prompt. (Both under cross-validation on MMLU: within 0.002 APGR; one set halves the
  // training time.)
  std::string features = "auto";
  // The calibration slice of the split is not used: the whole train part is cross-fitted.
  // Only test_below, key_column and seed matter here.
  datasets::SplitRule split;
  // Cross-fitting folds over the train part (>= 2). More folds: each out-of-fold model sees
  // more rows, training takes longer (candidates x folds fastText runs).
  int folds = 5;
  // Candidate pseudo-row counts for smoothing the category rates towards the prior (>= 0);
  // the best by out-of-fold APGR is kept. One value: no search.
  std::vector<double> category_smoothing = {2, 5, 10, 20, 50};
  // Reported separately (metrics with and without it); never silently dropped.
  std::string exclude_subject = "high_school_mathematics";
  int threads = 1;  // fastText threads; 1 keeps training reproducible
  // With a category column: also feed the category's training rate of "strong needed" to the
  // stacker (see routes/threshold_route.h). false: plain Platt scaling of the fastText p.
  bool category_rates = true;
  // The served scorer: "stack" (fastText + category rate, calibrated P(strong needed)), "gain"
  // (ml/gain_router.h: P(strong right) - P(weak right) from category rates, neighbours among
  // the training prompts and prompt features), or "auto": the one with the higher
  // cross-validated APGR on the train part.
  std::string scorer = "auto";
  // The router's version, written to the metadata's router.version and named by every
  // decision it makes (core::Span::router_version). Empty: ml::default_router_version of the
  // dataset's SHA-256 ("r-" + 8 hex digits), so the same rows give the same version.
  std::string version;
};

struct SubsetMetrics {
  int64_t n = 0;
  double weak_quality = 0.0;
  double strong_quality = 0.0;
  double apgr = 0.0;
  std::optional<double> cpt50;
  std::optional<double> cpt80;
  // 10 equal-width bins of calibrated P(strong needed); only for a probability scorer (the
  // stack), not for the gain router's difference of probabilities.
  std::optional<double> ece;
  std::optional<double> brier;
  double positive_rate = 0.0;  // share of rows where strong was needed
};

struct CandidateResult {
  std::string label;
  std::string features;
  int epoch = 0;
  double lr = 0.0;
  int word_ngrams = 0;
  int dim = 0;
  double smoothing = 0.0;  // category smoothing (0 without category rates)
  double cv_apgr = 0.0;    // APGR of the stacked out-of-fold scores over the train part
};

struct TrainRouterReport {
  std::string model_path;
  std::string metadata_path;
  std::string data_file_sha256;
  std::string version;  // router.version in the metadata
  int64_t n_rows = 0;
  int64_t n_skipped = 0;            // rows without a prompt or a grade (counted, not used)
  int64_t n_train = 0, n_test = 0;  // train part (cross-fitted) and held-out test part
  int folds = 0;
  std::vector<CandidateResult> candidates;
  CandidateResult chosen;
  double platt_a = 1.0, platt_b = 0.0, category_weight = 0.0;
  SubsetMetrics cross_validation;  // stacked out-of-fold scores, train part (selection)
  std::optional<SubsetMetrics> gain_cross_validation;  // nested out-of-fold, when trained
  std::string scorer;                                   // "stack" or "gain": what serving runs
  std::string references_path;                          // gain: the reference rows file
  // Gain: calibration error (10 bins) on the test part of its two probabilities, P(strong
  // right) against the strong grades and P(weak right) against the weak grades.
  std::optional<double> test_ece_strong, test_ece_weak;
  SubsetMetrics test;              // held-out test part, all rows
  std::optional<SubsetMetrics> test_without_excluded;  // when exclude_subject occurs
  // The test rows whose prompt does not also occur in the train part (datasets repeat some
  // questions; a router that searches its training prompts would find them): when any do.
  std::optional<SubsetMetrics> test_unseen;
  double seconds = 0.0;
};

TrainRouterReport train_router(const TrainRouterOptions& options);

// Human-readable report (what `triage train router` prints).
void print_train_router_report(const TrainRouterReport& r, const TrainRouterOptions& o,
                               std::ostream& out);

// CLI entry: trains, prints the report to stdout; errors to stderr. Returns an exit code.
int run_train_router(const TrainRouterOptions& options);

}  // namespace triage::train

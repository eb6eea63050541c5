#pragma once
// `triage train multi-router`: a multi-model score predictor (ml::ScorePredictor, used by
// the `predict` route kind) from a RouterBench-format CSV: columns `prompt`, optionally `id`
// (the split key; else the prompt), and for every model `<model>|score` (grade 0..1; a grade
// >= 0.5 counts as correct). `<model>|cost` and `<model>|response` are not used for training.
//
// Protocol (honest by construction):
//  1. Fixed split by datasets::SplitRule (hash of the id, seed recorded): the 20% test part is
//     never read for training or calibration; of the rest, the calibration slice (16% of all
//     rows) fits the calibration and the fit part (64%) trains the fastText models.
//  2. Missing cells: a row whose `<model>|score` is empty (or not a number) is EXCLUDED from
//     that model's training, calibration and metrics, and counted per model and per part in the
//     report and the metadata. It is never read as 0. Other models still use the row.
//  3. Models: one shared fastText classifier "ok"/"bad" on the pooled (row, model) pairs of the
//     fit part (how hard the prompt is, for any model), and one per model on its own labels.
//     Features: ml::multi_feature_text (the prompt's last paragraph).
//  4. Calibration per model on the calibration slice: logistic regression
//     P = sigmoid(a * logit(p_own) + c * logit(p_shared) + b), weights forced >= 0 (a term with
//     a negative weight is dropped and the rest refitted: a small slice must not invert a
//     model's ranking).
//  5. Metrics per model through ml::ScorePredictor (what serving runs): AUC, ECE (10 equal
//     bins) and Brier on the calibration slice ("validation"; the 3 calibration parameters were
//     fitted there) and on the held-out test part.
// Files: `out` (the shared model), `out + ".m<i>.bin"` (model i's own model), and
// `out + ".json"` (the ml metadata of the shared model plus a "multi_router" block: models,
// calibration, metrics, missing-cell counts, split rule, data hash). Blocking, CPU-bound;
// offline only. Throws ml::ModelError or CsvError with the file in the message.
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "datasets/split.h"
#include "train/train_common.h"  // roc_auc

namespace triage::train {

struct TrainMultiRouterOptions {
  // RouterBench-format CSVs (one or more: rows are pooled; every file must have the models'
  // score columns). The split rule applies to each row by its id, so `triage eval` can find
  // the held-out part of any of these files.
  std::vector<std::string> datasets;
  std::string out_path;  // e.g. models/arc_router.bin
  std::vector<std::string> models;  // empty: every `<model>|score` column of the file
  datasets::SplitRule split;
  int threads = 1;  // fastText threads; 1 keeps training reproducible
  // A model needs at least this many fit rows with a grade, of both classes, for its own
  // fastText model; else it is predicted from the shared model alone (a = 0).
  int min_own_rows = 30;
};

struct ScoreMetrics {
  int64_t n = 0;
  double base_rate = 0.0;  // share correct
  std::optional<double> auc;  // nullopt when one class is absent
  double ece = 0.0;
  double brier = 0.0;
};

struct ModelTrainReport {
  std::string name;
  bool own_model = false;
  double a = 0.0, c = 0.0, b = 0.0;
  int64_t n_fit = 0, n_calibration = 0, n_test = 0;  // rows with a grade
  int64_t missing_fit = 0, missing_calibration = 0, missing_test = 0;  // rows without
  ScoreMetrics validation;  // calibration slice
  ScoreMetrics test;        // held-out test part
};

struct TrainMultiRouterReport {
  std::string model_path, metadata_path;
  std::vector<std::string> data_file_sha256;  // per dataset, in options order
  int64_t n_rows = 0;            // rows in the file
  int64_t n_missing_prompt = 0;  // rows without a prompt (not used at all)
  int64_t n_fit = 0, n_calibration = 0, n_test = 0;  // rows per part
  int64_t missing_cells = 0;     // empty score cells over all models and rows
  std::string shared_hyper;      // the chosen shared-model hyperparameters
  std::vector<ModelTrainReport> models;
  double seconds = 0.0;
};

TrainMultiRouterReport train_multi_router(const TrainMultiRouterOptions& options);
void print_train_multi_router_report(const TrainMultiRouterReport& r,
                                     const TrainMultiRouterOptions& o, std::ostream& out);
// CLI entry: trains, prints the report to stdout; errors to stderr. Returns an exit code.
int run_train_multi_router(const TrainMultiRouterOptions& options);

// Metrics of predicted probabilities `p` against 0/1 outcomes `y` (same length).
ScoreMetrics score_metrics(const std::vector<double>& p, const std::vector<int>& y);

}  // namespace triage::train

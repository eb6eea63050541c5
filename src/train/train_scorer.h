#pragma once
// `triage train cascade-scorer`: the learned acceptance check of a cascade (checks/scorer_check.h)
// from a dataset of prompts, cheap-model responses and grades, e.g. RouteLLM's gsm8k.csv:
//   --response-column weak_response --label-column weak_correct
// "Acceptable" = grade >= 0.5. When the dataset also grades the model the cascade escalates to
// (--strong-column; default: the label column with "weak" replaced by "strong" when present),
// candidates are compared by the cascade's APGR (escalate the least acceptable answers first);
// otherwise by the log-loss of the calibrated probability.
//
// Protocol (the same fixed split and conventions as `triage train router`):
//  1. datasets::SplitRule on the id column (else the prompt): the 20% test part is never read for
//     training, selection or calibration; of the rest, the calibration slice (16% of all rows)
//     selects among candidates and fits the Platt scaling; the fit part (64%) trains.
//  2. Candidates: feature sets (cheap tokens, prompt, response; see ScorerFeatures) x a small
//     hyperparameter grid. The per-feature-set results on the calibration slice are the
//     ablation that says what helps; test-part numbers are reported for the chosen model only
//     (plus, marked as not used for anything, the best candidate of each feature set).
//  3. Writes the model and its metadata: model + ".json" = the ml metadata plus a "scorer"
//     block (format, positive label, features, calibration {a, b}, split, data hash, metrics).
// Blocking, CPU-bound, offline only. Throws ml::ModelError / CsvError naming the file.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "datasets/split.h"

namespace triage::train {

struct TrainScorerOptions {
  std::string dataset;
  std::string out_path;                      // e.g. models/gsm8k_scorer.bin
  std::string prompt_column = "prompt";
  std::string response_column = "weak_response";
  std::string label_column = "weak_correct";
  std::string strong_column = "auto";        // "auto": derived as above; "" or "none": no APGR
  std::string features = "auto";             // a ScorerFeatures name, or auto (best on calib)
  datasets::SplitRule split;
  int threads = 1;                           // fastText threads; 1 keeps training reproducible
};

struct ScorerMetrics {
  int64_t n = 0;
  double acceptable_rate = 0.0;  // share of rows whose answer is acceptable
  double auc = 0.0;              // ranking of acceptable above unacceptable answers
  double log_loss = 0.0;         // of the calibrated P(acceptable)
  double ece = 0.0;              // 10 equal-width bins
  // Cascade metrics (with a strong grade column): escalating the lowest-P answers first.
  std::optional<double> apgr, cpt50, cpt80;
};

struct ScorerCandidate {
  std::string features;
  int epoch = 0;
  double lr = 0.0;
  int word_ngrams = 0;
  int dim = 0;
  ScorerMetrics calibration;       // raw fastText P (uncalibrated) on the calibration slice
  std::optional<ScorerMetrics> test;  // filled for the best candidate of each feature set
};

struct TrainScorerReport {
  std::string model_path, metadata_path, data_file_sha256, strong_column;
  int64_t n_rows = 0, n_skipped = 0, n_fit = 0, n_calibration = 0, n_test = 0;
  std::vector<ScorerCandidate> candidates;
  ScorerCandidate chosen;
  double platt_a = 1.0, platt_b = 0.0;
  ScorerMetrics calibration, test;  // the chosen model, calibrated, as the check scores
  double seconds = 0.0;
};

TrainScorerReport train_scorer(const TrainScorerOptions& options);
void print_train_scorer_report(const TrainScorerReport& r, const TrainScorerOptions& o,
                               std::ostream& out);
// CLI entry: trains, prints the report to stdout; errors to stderr. Returns an exit code.
int run_train_scorer(const TrainScorerOptions& options);

}  // namespace triage::train

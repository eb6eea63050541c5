#pragma once
// What the `triage train` commands (router, multi-router, cascade-scorer) share: the fit /
// calibration / test partition, fastText candidate training and files, logistic calibration
// fits, binned calibration error and rank AUC, the split record in model metadata, and the CLI
// shape. Blocking, CPU-bound, offline only; errors are thrown as ml::ModelError.
#include <boost/json/object.hpp>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "ml/fasttext_model.h"
#include "ml/logistic.h"
#include "datasets/split.h"

namespace triage::train {

// fastText hyperparameters of one candidate.
struct TrainHyper {
  int epoch;
  double lr;
  int word_ngrams;
  int dim;
};

// A TrainSpec for `hyper` writing `out_path`, seeded from the split's seed (so a retrain on the
// same split is reproducible with threads = 1).
ml::TrainSpec train_spec(std::vector<ml::LabeledExample> examples, const std::string& out_path,
                         const TrainHyper& hyper, int threads, const datasets::SplitRule& split);

// Removes a model file and its metadata (missing files are fine).
void remove_model(const std::string& path);
// Renames a model file and its metadata.
void move_model(const std::string& from, const std::string& to);

// The logit of every calibration (training and serving read probabilities the same way).
using ml::logit;

// How fit_logistic regularises. The defaults are the router's and cascade scorer's Platt fit.
struct LogisticFit {
  double initial_first_weight = 1.0;  // starting value of the first weight (Platt's slope)
  double weight_damping = 1e-6;       // added to the Hessian's diagonal for the weights
  double bias_damping = 1e-6;         // and for the bias
  bool ridge_gradient = false;        // also a ridge penalty (weight_damping * w) in the gradient
  double min_curvature = 0.0;         // floor of p (1 - p) per row
};

// Logistic regression of y (0/1) on the first `features` columns of x (plus a bias, the last
// weight) by Newton's method, on Platt's smoothed targets.
std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x,
                                 const std::vector<int>& y, std::size_t features,
                                 const LogisticFit& how);

// With all columns of x and the default LogisticFit. With one feature, logit(raw), this is Platt
// scaling: returns {a, b}.
std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x,
                                 const std::vector<int>& y);

// Expected calibration error over `bins` equal-width bins of p (0..1) against outcomes y.
double binned_ece(const std::vector<double>& p, const std::vector<double>& y, int bins = 10);

// Rank AUC (ties count half); nullopt when `y` has one class only.
std::optional<double> roc_auc(const std::vector<double>& p, const std::vector<int>& y);

// The rows of each part of a split (pointers into the caller's rows).
template <class Row>
struct SplitParts {
  std::vector<const Row*> fit, calibration, test;
};

// Partitions rows by their `part` member. Throws ml::ModelError "<dataset>: too few rows for a
// fit/calibration/test split (<n> usable rows)" when a part is empty.
template <class Row>
SplitParts<Row> split_parts(const std::vector<Row>& rows, const std::string& dataset) {
  SplitParts<Row> s;
  for (const Row& r : rows) {
    (r.part == datasets::SplitPart::kTest          ? s.test
     : r.part == datasets::SplitPart::kCalibration ? s.calibration
                                         : s.fit)
        .push_back(&r);
  }
  if (s.fit.empty() || s.calibration.empty() || s.test.empty()) {
    throw ml::ModelError(dataset + ": too few rows for a fit/calibration/test split (" +
                         std::to_string(rows.size()) + " usable rows)");
  }
  return s;
}

// The training-data record of a single-file model's metadata block, appended in this order:
// split, dataset, data_file_sha256, n_fit, n_calibration, n_test, n_skipped.
struct SplitRecord {
  const datasets::SplitRule& split;
  const std::string& dataset;
  const std::string& data_file_sha256;
  int64_t n_fit, n_calibration, n_test, n_skipped;
};
void append_split_record(boost::json::object& block, const SplitRecord& r);

// The CLI shape of the train commands: trains, prints the report to stdout; errors go to
// stderr as "triage train <command>: <what>". Returns the exit code.
template <class Options, class Train, class Print>
int run_train_command(const char* command, const Options& options, Train train, Print print) {
  try {
    auto rep = train(options);
    print(rep, options, std::cout);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "triage train " << command << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace triage::train

#pragma once
// Cross-fitting helpers for the `triage train` commands: a deterministic K-fold assignment of
// the train part and smoothed per-category rates, in-sample (what a model stores) and
// out-of-fold (what a stacker is fitted on, so that it never sees a rate computed from the row
// it is scoring). Pure functions; no I/O.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace triage::train {

// The fold (0..folds-1) of a row: fnv1a64("fold:<seed>:<key>") % folds. Depends only on the key
// and the seed, like the split, so a retrain puts every row in the same fold. folds >= 1.
int fold_of(std::string_view key, uint64_t seed, int folds);

// The smoothed rate of an outcome per category:
//   rate(c) = (sum of y over c + smoothing * prior) / (rows of c + smoothing),
// prior = the mean of y over all rows (rows without a category count only for the prior).
// Unknown and empty categories get the prior. smoothing >= 0 (pseudo-rows at the prior).
struct CategoryRates {
  std::map<std::string, double, std::less<>> rates;
  double prior = 0.0;
  double rate(std::string_view category) const;
};

// categories and y have the same length; y in 0..1. Empty input: prior 0, no rates.
CategoryRates category_rates(const std::vector<std::string>& categories,
                             const std::vector<double>& y, double smoothing);

// For each row i, rate(categories[i]) of the CategoryRates computed on the rows of the other
// folds only (folds[i] in 0..n_folds-1).
std::vector<double> out_of_fold_category_rates(const std::vector<std::string>& categories,
                                               const std::vector<double>& y,
                                               const std::vector<int>& folds, int n_folds,
                                               double smoothing);

}  // namespace triage::train

#pragma once
// Logistic regression by Newton's method: the one fitter behind every learned calibration and
// stacker (train::fit_logistic's Platt fits, the gain router's ridge regressions). Pure,
// CPU-bound; offline training only.
#include <cstddef>
#include <vector>

namespace triage::ml {

// log(p / (1 - p)) with p clamped to [1e-6, 1 - 1e-6]: the one logit of every calibration,
// stacker and predictor (training and serving read probabilities through it alike).
double logit(double p);

struct NewtonLogistic {
  double weight_damping = 0.0;     // added to the Hessian's diagonal for every weight
  bool ridge_gradient = false;     // also weight_damping * w in the gradient: a true L2 penalty
  double bias_damping = 0.0;       // added to the Hessian's diagonal for the bias
  double min_curvature = 0.0;      // floor of p (1 - p) per row
  double initial_first_weight = 0.0;
  int max_iterations = 100;
  double tolerance = 1e-10;        // stop when the summed |step| falls below
};

// Fits sigmoid(w . x[i][0..features) + b) to targets[i] (0..1, e.g. 0/1 outcomes or Platt's
// smoothed targets). Returns the `features` weights, then the bias. On a singular Hessian the
// weights reached so far are returned.
std::vector<double> fit_logistic_newton(const std::vector<std::vector<double>>& x,
                                        std::size_t features, const std::vector<double>& targets,
                                        const NewtonLogistic& how);

}  // namespace triage::ml

#include "ml/logistic.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace triage::ml {

double logit(double p) {
  p = std::clamp(p, 1e-6, 1.0 - 1e-6);
  return std::log(p / (1.0 - p));
}

std::vector<double> fit_logistic_newton(const std::vector<std::vector<double>>& x,
                                        std::size_t features, const std::vector<double>& targets,
                                        const NewtonLogistic& how) {
  const std::size_t d = features + 1;  // the bias is the last parameter
  std::vector<double> w(d, 0.0);
  if (features > 0) w[0] = how.initial_first_weight;
  std::vector<double> xi(d);
  for (int it = 0; it < how.max_iterations; ++it) {
    std::vector<double> g(d, 0.0);
    std::vector<std::vector<double>> h(d, std::vector<double>(d, 0.0));
    for (std::size_t k = 0; k + 1 < d; ++k) {
      h[k][k] = how.weight_damping;
      if (how.ridge_gradient) g[k] = how.weight_damping * w[k];
    }
    h[d - 1][d - 1] = how.bias_damping;
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::copy(x[i].begin(), x[i].begin() + static_cast<std::ptrdiff_t>(features), xi.begin());
      xi[d - 1] = 1.0;
      double z = 0;
      for (std::size_t k = 0; k < d; ++k) z += w[k] * xi[k];
      const double p = 1 / (1 + std::exp(-z));
      double wt = p * (1 - p);
      if (how.min_curvature > 0) wt = std::max(wt, how.min_curvature);
      const double diff = p - targets[i];
      for (std::size_t k = 0; k < d; ++k) {
        g[k] += diff * xi[k];
        for (std::size_t l = 0; l < d; ++l) h[k][l] += wt * xi[k] * xi[l];
      }
    }
    // Solve h * step = g by Gauss-Jordan elimination with partial pivoting.
    for (std::size_t c = 0; c < d; ++c) {
      std::size_t piv = c;
      for (std::size_t r = c + 1; r < d; ++r) {
        if (std::abs(h[r][c]) > std::abs(h[piv][c])) piv = r;
      }
      std::swap(h[c], h[piv]);
      std::swap(g[c], g[piv]);
      if (std::abs(h[c][c]) < 1e-15) return w;
      for (std::size_t r = 0; r < d; ++r) {
        if (r == c) continue;
        const double f = h[r][c] / h[c][c];
        for (std::size_t k = c; k < d; ++k) h[r][k] -= f * h[c][k];
        g[r] -= f * g[c];
      }
    }
    double moved = 0;
    for (std::size_t k = 0; k < d; ++k) {
      const double step = g[k] / h[k][k];
      w[k] -= step;
      moved += std::abs(step);
    }
    if (moved < how.tolerance) break;
  }
  return w;
}

}  // namespace triage::ml

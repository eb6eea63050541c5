#include "offline/train_common.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <numeric>

namespace triage::offline {

namespace fs = std::filesystem;

ml::TrainSpec train_spec(std::vector<ml::LabeledExample> examples, const std::string& out_path,
                         const TrainHyper& hyper, int threads, const SplitRule& split) {
  ml::TrainSpec spec;
  spec.train = std::move(examples);
  spec.out_path = out_path;
  spec.epoch = hyper.epoch;
  spec.lr = hyper.lr;
  spec.word_ngrams = hyper.word_ngrams;
  spec.dim = hyper.dim;
  spec.threads = threads;
  spec.seed = static_cast<int>(split.seed % 1000003);
  return spec;
}

void remove_model(const std::string& path) {
  fs::remove(path);
  fs::remove(ml::metadata_path_for(path));
}

void move_model(const std::string& from, const std::string& to) {
  fs::rename(from, to);
  fs::rename(ml::metadata_path_for(from), ml::metadata_path_for(to));
}

double logit(double p) {
  p = std::clamp(p, 1e-6, 1 - 1e-6);
  return std::log(p / (1 - p));
}

std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x,
                                 const std::vector<int>& y, std::size_t features,
                                 const LogisticFit& how) {
  const std::size_t d = features + 1;
  double n_pos = 0, n_neg = 0;
  for (int v : y) (v ? n_pos : n_neg) += 1;
  const double t_pos = (n_pos + 1) / (n_pos + 2), t_neg = 1 / (n_neg + 2);
  std::vector<double> w(d, 0.0);
  w[0] = how.initial_first_weight;
  for (int it = 0; it < 100; ++it) {
    std::vector<double> g(d, 0.0);
    std::vector<std::vector<double>> h(d, std::vector<double>(d, 0.0));
    for (std::size_t k = 0; k + 1 < d; ++k) {
      h[k][k] = how.weight_damping;
      if (how.ridge_gradient) g[k] = how.weight_damping * w[k];
    }
    h[d - 1][d - 1] = how.bias_damping;
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::vector<double> xi(x[i].begin(), x[i].begin() + static_cast<std::ptrdiff_t>(features));
      xi.push_back(1.0);
      double z = 0;
      for (std::size_t k = 0; k < d; ++k) z += w[k] * xi[k];
      const double p = 1 / (1 + std::exp(-z));
      double wt = p * (1 - p);
      if (how.min_curvature > 0) wt = std::max(wt, how.min_curvature);
      const double diff = p - (y[i] ? t_pos : t_neg);
      for (std::size_t k = 0; k < d; ++k) {
        g[k] += diff * xi[k];
        for (std::size_t l = 0; l < d; ++l) h[k][l] += wt * xi[k] * xi[l];
      }
    }
    // Solve h * step = g by Gauss-Jordan elimination with partial pivoting (d is 1 to 3).
    for (std::size_t c = 0; c < d; ++c) {
      std::size_t piv = c;
      for (std::size_t r = c + 1; r < d; ++r)
        if (std::abs(h[r][c]) > std::abs(h[piv][c])) piv = r;
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
    if (moved < 1e-10) break;
  }
  return w;
}

std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x,
                                 const std::vector<int>& y) {
  return fit_logistic(x, y, x.empty() ? 0 : x[0].size(), LogisticFit{});
}

double binned_ece(const std::vector<double>& p, const std::vector<double>& y, int bins) {
  std::vector<double> sum_p(static_cast<std::size_t>(bins)), sum_y(static_cast<std::size_t>(bins));
  for (std::size_t i = 0; i < p.size(); ++i) {
    const auto b = static_cast<std::size_t>(std::clamp(static_cast<int>(p[i] * bins), 0, bins - 1));
    sum_p[b] += p[i];
    sum_y[b] += y[i];
  }
  const double n = static_cast<double>(p.size());
  double ece = 0.0;
  for (std::size_t b = 0; b < sum_p.size(); ++b) ece += std::abs(sum_p[b] - sum_y[b]) / n;
  return ece;
}

std::optional<double> roc_auc(const std::vector<double>& p, const std::vector<int>& y) {
  std::vector<std::size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  double n_pos = 0, rank_sum = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && p[order[j]] == p[order[i]]) ++j;
    const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t k = i; k < j; ++k) {
      if (y[order[k]]) {
        rank_sum += mid_rank;
        n_pos += 1;
      }
    }
    i = j;
  }
  const double n_neg = static_cast<double>(p.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::nullopt;
  return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg);
}

void append_split_record(boost::json::object& block, const SplitRecord& r) {
  block["split"] = r.split.to_json();
  block["dataset"] = r.dataset;
  block["data_file_sha256"] = r.data_file_sha256;
  block["n_fit"] = r.n_fit;
  block["n_calibration"] = r.n_calibration;
  block["n_test"] = r.n_test;
  block["n_skipped"] = r.n_skipped;
}

}  // namespace triage::offline

#include "train/train_common.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "ml/logistic.h"

namespace triage::train {

namespace fs = std::filesystem;

ml::TrainSpec train_spec(std::vector<ml::LabeledExample> examples, const std::string& out_path,
                         const TrainHyper& hyper, int threads, const datasets::SplitRule& split) {
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

std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x,
                                 const std::vector<int>& y, std::size_t features,
                                 const LogisticFit& how) {
  // Platt's smoothed targets: (positives + 1) / (positives + 2) and 1 / (negatives + 2).
  double n_pos = 0, n_neg = 0;
  for (int v : y) (v ? n_pos : n_neg) += 1;
  const double t_pos = (n_pos + 1) / (n_pos + 2), t_neg = 1 / (n_neg + 2);
  std::vector<double> targets;
  targets.reserve(y.size());
  for (int v : y) targets.push_back(v ? t_pos : t_neg);
  ml::NewtonLogistic newton;
  newton.weight_damping = how.weight_damping;
  newton.ridge_gradient = how.ridge_gradient;
  newton.bias_damping = how.bias_damping;
  newton.min_curvature = how.min_curvature;
  newton.initial_first_weight = how.initial_first_weight;
  return ml::fit_logistic_newton(x, features, targets, newton);
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

}  // namespace triage::train

#include "train/cross_fit.h"

#include "datasets/split.h"

namespace triage::train {

int fold_of(std::string_view key, uint64_t seed, int folds) {
  if (folds <= 1) return 0;
  std::string s = "fold:" + std::to_string(seed) + ":";
  s.append(key);
  return static_cast<int>(datasets::fnv1a64(s) % static_cast<uint64_t>(folds));
}

double CategoryRates::rate(std::string_view category) const {
  auto it = rates.find(category);
  return it == rates.end() ? prior : it->second;
}

CategoryRates category_rates(const std::vector<std::string>& categories,
                             const std::vector<double>& y, double smoothing) {
  CategoryRates out;
  if (y.empty()) return out;
  std::map<std::string, std::pair<double, double>, std::less<>> by;  // category -> (sum y, n)
  double sum = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    sum += y[i];
    if (categories[i].empty()) continue;
    auto& c = by[categories[i]];
    c.first += y[i];
    c.second += 1.0;
  }
  out.prior = sum / static_cast<double>(y.size());
  for (const auto& [cat, c] : by) {
    out.rates[cat] = (c.first + smoothing * out.prior) / (c.second + smoothing);
  }
  return out;
}

std::vector<double> out_of_fold_category_rates(const std::vector<std::string>& categories,
                                               const std::vector<double>& y,
                                               const std::vector<int>& folds, int n_folds,
                                               double smoothing) {
  std::vector<double> out(y.size(), 0.0);
  for (int f = 0; f < n_folds; ++f) {
    std::vector<std::string> cats;
    std::vector<double> ys;
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (folds[i] != f) {
        cats.push_back(categories[i]);
        ys.push_back(y[i]);
      }
    }
    const CategoryRates r = category_rates(cats, ys, smoothing);
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (folds[i] == f) out[i] = r.rate(categories[i]);
    }
  }
  return out;
}

}  // namespace triage::train

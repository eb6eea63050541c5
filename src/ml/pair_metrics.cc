#include "ml/pair_metrics.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace triage::ml {

double pgr(double quality, double weak_quality, double strong_quality) {
  const double gap = strong_quality - weak_quality;
  if (std::abs(gap) < 1e-12) return 0.0;
  return (quality - weak_quality) / gap;
}

std::vector<PgrPoint> pgr_curve(std::vector<PgrPoint> points) {
  bool has0 = false, has1 = false;
  for (const auto& p : points) {
    has0 = has0 || p.strong_share <= 0.0;
    has1 = has1 || p.strong_share >= 1.0;
  }
  if (!has0) points.push_back({0.0, 0.0});
  if (!has1) points.push_back({1.0, 1.0});
  std::sort(points.begin(), points.end(), [](const PgrPoint& a, const PgrPoint& b) {
    return a.strong_share != b.strong_share ? a.strong_share < b.strong_share : a.pgr < b.pgr;
  });
  return points;
}

double apgr(const std::vector<PgrPoint>& points) {
  const auto c = pgr_curve(points);
  double area = 0.0;
  for (std::size_t i = 1; i < c.size(); ++i) {
    area += (c[i].strong_share - c[i - 1].strong_share) * (c[i].pgr + c[i - 1].pgr) / 2.0;
  }
  return area;
}

std::optional<double> cpt(const std::vector<PgrPoint>& points, double target_pgr) {
  const auto c = pgr_curve(points);
  if (c.front().pgr >= target_pgr) return c.front().strong_share;
  for (std::size_t i = 1; i < c.size(); ++i) {
    const PgrPoint& a = c[i - 1];
    const PgrPoint& b = c[i];
    if (b.pgr >= target_pgr) {
      if (a.pgr >= target_pgr || b.pgr == a.pgr) return a.strong_share;
      return a.strong_share +
             (target_pgr - a.pgr) / (b.pgr - a.pgr) * (b.strong_share - a.strong_share);
    }
  }
  return std::nullopt;
}

RoutingRates routing_rates(const std::vector<PairRow>& rows) {
  RoutingRates r;
  if (rows.empty()) return r;
  int64_t over = 0, under = 0;
  for (const auto& row : rows) {
    const bool oracle_strong = row.strong_grade > row.weak_grade;
    if (row.routed_strong && !oracle_strong) ++over;
    if (!row.routed_strong && oracle_strong) ++under;
  }
  const double n = static_cast<double>(rows.size());
  r.over_routing = static_cast<double>(over) / n;
  r.under_routing = static_cast<double>(under) / n;
  r.accuracy = 1.0 - r.over_routing - r.under_routing;
  return r;
}

std::vector<QualityPoint> oracle_curve(const std::vector<PairRow>& rows) {
  std::vector<QualityPoint> out;
  if (rows.empty()) return out;
  std::vector<double> gains;
  double quality = 0.0;
  for (const auto& r : rows) {
    gains.push_back(r.strong_grade - r.weak_grade);
    quality += r.weak_grade;
  }
  std::sort(gains.begin(), gains.end(), std::greater<>());
  const double n = static_cast<double>(rows.size());
  out.push_back({0.0, quality / n});
  for (std::size_t k = 0; k < gains.size(); ++k) {
    quality += gains[k];
    const bool last = k + 1 == gains.size();
    if (last || gains[k + 1] != gains[k]) {
      out.push_back({static_cast<double>(k + 1) / n, quality / n});
    }
  }
  return out;
}

ScoreCurve score_pgr_curve(const std::vector<double>& score, const std::vector<double>& weak,
                           const std::vector<double>& strong, bool high_goes_strong) {
  ScoreCurve c;
  const double n = static_cast<double>(score.size());
  std::vector<std::size_t> order(score.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (high_goes_strong) {
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
  } else {
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  }
  for (std::size_t i = 0; i < score.size(); ++i) {
    c.weak_quality += weak[i];
    c.strong_quality += strong[i];
  }
  c.weak_quality /= n;
  c.strong_quality /= n;
  c.points.push_back({0.0, 0.0});
  double q = c.weak_quality * n;
  for (std::size_t i = 0; i < order.size(); ++i) {
    q += strong[order[i]] - weak[order[i]];
    if (i + 1 == order.size() || score[order[i + 1]] != score[order[i]]) {
      c.points.push_back(
          {static_cast<double>(i + 1) / n, pgr(q / n, c.weak_quality, c.strong_quality)});
    }
  }
  return c;
}

}  // namespace triage::ml

#include "eval/eval_cv.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "ml/pair_metrics.h"

namespace triage::eval {

namespace {

// Sums of one policy over the rows where in_set(row) holds.
struct Totals {
  double quality = 0.0, cost = 0.0, strong = 0.0;
  int64_t n = 0;
};

template <class InSet>
Totals totals(const CvPolicy& p, const InSet& in_set) {
  Totals t;
  for (std::size_t i = 0; i < p.quality.size(); ++i) {
    if (!in_set(i)) continue;
    t.quality += p.quality[i];
    t.cost += p.cost[i];
    if (!p.strong.empty()) t.strong += p.strong[i];
    ++t.n;
  }
  return t;
}

double mean_of(const Totals& t) { return t.n > 0 ? t.quality / static_cast<double>(t.n) : 0.0; }

CvStat stat_of(const std::vector<double>& v) {
  CvStat s;
  if (v.empty()) return s;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0.0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return s;
}

// The criterion on the rows where in_set holds: the best reference there, then the cheapest
// point within tolerance of it (else the point of highest quality).
struct Choice {
  std::size_t point = 0, reference = 0;
  bool reached = false;
};

template <class InSet>
Choice choose(const CvInput& in, const InSet& in_set) {
  Choice c;
  double best_ref = -1.0;
  for (std::size_t r = 0; r < in.references.size(); ++r) {
    const double q = mean_of(totals(in.references[r], in_set));
    if (q > best_ref) {
      best_ref = q;
      c.reference = r;
    }
  }
  std::optional<double> cheapest;
  double best_q = -1.0;
  std::size_t best_q_point = 0;
  for (std::size_t p = 0; p < in.points.size(); ++p) {
    const Totals t = totals(in.points[p], in_set);
    const double q = mean_of(t);
    if (q >= best_ref - in.tolerance - 1e-12 && (!cheapest || t.cost < *cheapest)) {
      cheapest = t.cost;
      c.point = p;
      c.reached = true;
    }
    if (q > best_q) {
      best_q = q;
      best_q_point = p;
    }
  }
  if (!c.reached) c.point = best_q_point;
  return c;
}

// APGR of the route's sweep on the rows where in_set holds (PGR against the weak and strong
// models on the same rows, strong share on the x axis).
template <class InSet>
double apgr_on(const CvInput& in, const InSet& in_set) {
  const double wq = mean_of(totals(*in.weak, in_set));
  const double sq = mean_of(totals(in.references.front(), in_set));
  std::vector<ml::PgrPoint> curve;
  for (const auto& p : in.points) {
    const Totals t = totals(p, in_set);
    curve.push_back({t.n > 0 ? t.strong / static_cast<double>(t.n) : 0.0,
                     ml::pgr(mean_of(t), wq, sq)});
  }
  std::sort(curve.begin(), curve.end(),
            [](const ml::PgrPoint& a, const ml::PgrPoint& b) { return a.strong_share < b.strong_share; });
  return ml::apgr(curve);
}

void check_input(const CvInput& in) {
  if (in.folds < 2) throw std::invalid_argument("--cv needs K >= 2");
  if (in.points.empty()) throw std::invalid_argument("--cv: the route has no knob to choose");
  if (in.references.empty()) throw std::invalid_argument("--cv: no reference model with grades");
  const std::size_t n = in.keys.size();
  auto check = [n](const CvPolicy& p) {
    if (p.quality.size() != n || p.cost.size() != n || (!p.strong.empty() && p.strong.size() != n)) {
      throw std::invalid_argument("--cv: per-row outcomes disagree in length");
    }
  };
  for (const auto& p : in.points) check(p);
  for (const auto& p : in.references) check(p);
  if (in.weak) check(*in.weak);
}

}  // namespace

int cv_fold(std::string_view key, int k) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a 64 offset basis
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int>(h % static_cast<uint64_t>(k));
}

CvResult cross_validate(const CvInput& in) {
  check_input(in);
  CvResult res;
  res.k = in.folds;
  res.fold_rule = fmt::format("row -> FNV-1a-64(prompt) mod {}", in.folds);
  res.criterion = fmt::format(
      "cheapest knob value with quality >= best reference model's - {:.3g} on the other {} "
      "folds (else the highest-quality value); scored on the held-out fold",
      in.tolerance, in.folds - 1);
  std::vector<int> fold(in.keys.size());
  for (std::size_t i = 0; i < in.keys.size(); ++i) fold[i] = cv_fold(in.keys[i], in.folds);
  std::vector<double> gaps, ratios, qualities, knobs, apgrs;
  double pooled_q = 0.0, pooled_ref_q = 0.0, pooled_cost = 0.0, pooled_ref_cost = 0.0;
  for (int f = 0; f < in.folds; ++f) {
    auto choose_set = [&](std::size_t i) { return fold[i] != f; };
    auto score_set = [&](std::size_t i) { return fold[i] == f; };
    CvFold out;
    out.fold = f;
    out.n_score = std::count(fold.begin(), fold.end(), f);
    out.n_choose = static_cast<int64_t>(fold.size()) - out.n_score;
    if (out.n_score == 0 || out.n_choose == 0) {
      throw std::invalid_argument(fmt::format("--cv: fold {} is empty (too few rows for K={})",
                                              f, in.folds));
    }
    const Choice c = choose(in, choose_set);
    out.knob = in.points[c.point].knob;
    out.reached = c.reached;
    out.reference = in.references[c.reference].name;
    const Totals t = totals(in.points[c.point], score_set);
    const Totals rt = totals(in.references[c.reference], score_set);
    out.quality = mean_of(t);
    out.reference_quality = mean_of(rt);
    out.cost_usd = t.cost;
    out.reference_cost_usd = rt.cost;
    out.quality_gap = out.quality - out.reference_quality;
    out.cost_ratio = rt.cost > 0 ? t.cost / rt.cost : 0.0;
    if (in.weak) out.apgr = apgr_on(in, score_set);
    gaps.push_back(out.quality_gap);
    ratios.push_back(out.cost_ratio);
    qualities.push_back(out.quality);
    knobs.push_back(out.knob);
    if (out.apgr) apgrs.push_back(*out.apgr);
    pooled_q += t.quality;
    pooled_ref_q += rt.quality;
    pooled_cost += t.cost;
    pooled_ref_cost += rt.cost;
    res.folds.push_back(std::move(out));
  }
  res.quality_gap = stat_of(gaps);
  res.cost_ratio = stat_of(ratios);
  res.quality = stat_of(qualities);
  res.knob = stat_of(knobs);
  if (!apgrs.empty()) res.apgr = stat_of(apgrs);
  const double n = static_cast<double>(in.keys.size());
  res.pooled_quality = pooled_q / n;
  res.pooled_reference_quality = pooled_ref_q / n;
  res.pooled_cost_ratio = pooled_ref_cost > 0 ? pooled_cost / pooled_ref_cost : 0.0;
  const Choice all = choose(in, [](std::size_t) { return true; });
  res.chosen_on_all = in.points[all.point].knob;
  res.chosen_on_all_reached = all.reached;
  return res;
}

namespace {

boost::json::object stat_json(const CvStat& s) {
  return {{"mean", s.mean}, {"sd", s.sd}, {"min", s.min}, {"max", s.max}};
}

}  // namespace

boost::json::object cv_json(const CvResult& r) {
  boost::json::array folds;
  for (const auto& f : r.folds) {
    boost::json::object o{{"fold", f.fold},
                          {"n_choose", f.n_choose},
                          {"n_score", f.n_score},
                          {"knob", f.knob},
                          {"reached", f.reached},
                          {"reference", f.reference},
                          {"quality", f.quality},
                          {"reference_quality", f.reference_quality},
                          {"quality_gap", f.quality_gap},
                          {"cost_usd", f.cost_usd},
                          {"reference_cost_usd", f.reference_cost_usd},
                          {"cost_ratio", f.cost_ratio}};
    if (f.apgr) o["apgr"] = *f.apgr;
    folds.push_back(std::move(o));
  }
  boost::json::object o{{"k", r.k},
                        {"fold_rule", r.fold_rule},
                        {"criterion", r.criterion},
                        {"rows", r.rows},
                        {"folds", std::move(folds)},
                        {"quality_gap", stat_json(r.quality_gap)},
                        {"cost_ratio", stat_json(r.cost_ratio)},
                        {"quality", stat_json(r.quality)},
                        {"knob", stat_json(r.knob)},
                        {"pooled_quality", r.pooled_quality},
                        {"pooled_reference_quality", r.pooled_reference_quality},
                        {"pooled_cost_ratio", r.pooled_cost_ratio},
                        {"chosen_on_all", r.chosen_on_all},
                        {"chosen_on_all_reached", r.chosen_on_all_reached}};
  o["apgr"] = r.apgr ? boost::json::value(stat_json(*r.apgr)) : boost::json::value(nullptr);
  return o;
}

std::string cv_text(const CvResult& r, std::string_view knob_name) {
  std::string s = fmt::format("\ncross-validation ({} folds; {})\n  rows: {}\n  choice: {}\n",
                              r.k, r.fold_rule, r.rows, r.criterion);
  s += fmt::format("  {:>4} {:>6} {:>8} {:>7} {:>8} {:>8} {:>8} {:>7}{}\n", "fold", "n",
                   knob_name.empty() ? "knob" : knob_name, "reached", "quality", "ref",
                   "gap pts", "cost%", r.apgr ? "    APGR  reference" : "  reference");
  for (const auto& f : r.folds) {
    s += fmt::format("  {:>4} {:>6} {:>8.4g} {:>7} {:>8.3f} {:>8.3f} {:>+8.1f} {:>6.1f}%", f.fold,
                     f.n_score, f.knob, f.reached ? "yes" : "no", f.quality, f.reference_quality,
                     100 * f.quality_gap, 100 * f.cost_ratio);
    if (f.apgr) s += fmt::format(" {:>7.3f}", *f.apgr);
    s += "  " + f.reference + "\n";
  }
  s += fmt::format(
      "  mean over folds: quality gap {:+.1f} pts (sd {:.1f}), cost {:.1f}% of the reference "
      "(sd {:.1f})",
      100 * r.quality_gap.mean, 100 * r.quality_gap.sd, 100 * r.cost_ratio.mean,
      100 * r.cost_ratio.sd);
  if (r.apgr) s += fmt::format(", APGR {:.3f} (sd {:.3f})", r.apgr->mean, r.apgr->sd);
  s += fmt::format("\n  pooled held-out: quality {:.3f} vs reference {:.3f}, cost {:.1f}%\n",
                   r.pooled_quality, r.pooled_reference_quality, 100 * r.pooled_cost_ratio);
  s += fmt::format("  chosen on all rows (for new data): {} = {:.4g}{}\n",
                   knob_name.empty() ? "knob" : knob_name, r.chosen_on_all,
                   r.chosen_on_all_reached ? "" : " (criterion not reached: highest quality)");
  return s;
}

}  // namespace triage::eval

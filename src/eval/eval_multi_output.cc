// Text, JSON and SVG renderings of a MultiEvalResult (eval/eval_multi.h).
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>

#include "eval/eval_multi.h"
#include "output/output_format.h"
#include "output/svg_plot.h"

namespace triage::eval {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

json::object point_json(const MultiPoint& p) {
  json::object share, calls;
  for (const auto& [m, s] : p.share) share[m] = s;
  for (const auto& [m, c] : p.calls) calls[m] = c;
  return json::object{{"bar", p.bar},
                      {"n", p.n},
                      {"quality", p.quality},
                      {"cost_usd", p.cost_usd},
                      {"cpi_usd", p.cpi_usd},
                      {"share", std::move(share)},
                      {"calls_per_row", std::move(calls)},
                      {"routing", json::object{{"accuracy", p.routing.accuracy},
                                               {"over_routing", p.routing.over},
                                               {"under_routing", p.routing.under},
                                               {"other_miss", p.routing.other}}},
                      {"errors", p.errors},
                      {"ungraded", p.ungraded},
                      {"missing_cost", p.missing_cost},
                      {"routing_us", p.routing_us}};
}

json::object baseline_json(const ModelBaseline& m) {
  return json::object{{"model", m.model},
                      {"dataset_model", m.dataset_model},
                      {"quality", m.quality},
                      {"cost_usd", m.cost_usd},
                      {"cpi_usd", m.cpi_usd}};
}

}  // namespace

json::object eval_multi_json(const MultiEvalResult& r) {
  json::array points, models, candidates;
  for (const auto& p : r.points) points.push_back(point_json(p));
  for (const auto& m : r.models) models.push_back(baseline_json(m));
  for (const auto& c : r.candidates) candidates.emplace_back(c);
  json::object mf, mp;
  for (const auto& [m, c] : r.missing_cells_file) mf[m] = c;
  for (const auto& [m, c] : r.missing_cells_part) mp[m] = c;
  return json::object{{"kind", "multi_model"},
                      {"config", r.config_path},
                      {"route", r.route},
                      {"route_kind", r.route_kind},
                      {"dataset", r.dataset},
                      {"dataset_sha256", r.dataset_sha256},
                      {"split", r.split_applied},
                      {"n_rows_file", r.n_rows_file},
                      {"n_rows", r.n_rows},
                      {"n_excluded_train", r.n_excluded_train},
                      {"n_missing_prompt", r.n_missing_prompt},
                      {"n_excluded_missing", r.n_excluded_missing},
                      {"missing_cells_file", std::move(mf)},
                      {"missing_cells_evaluated_part", std::move(mp)},
                      {"missing_rule",
                       "rows with an empty grade for any baseline model are excluded from every "
                       "policy and baseline (complete cases) and counted; never read as 0"},
                      {"cost_source",
                       "sum of the recorded <model>|cost (real USD of the original RouterBench "
                       "call) of every model the route called for the row, not the engine's "
                       "token estimate; quality = the grade of the model whose answer was "
                       "returned"},
                      {"candidates", std::move(candidates)},
                      {"best_model", r.best_model},
                      {"best_quality", r.best_quality},
                      {"best_cost_usd", r.best_cost_usd},
                      {"cost_ratio_at_best_quality", output::json_or_null(r.cost_ratio_at_best_quality)},
                      {"quality_at_40pct_cost", output::json_or_null(r.quality_at_40pct_cost)},
                      {"knob", r.knob},
                      {"operating", point_json(r.operating)},
                      {"swept", r.swept},
                      {"points", std::move(points)},
                      {"models", std::move(models)},
                      {"oracle", baseline_json(r.oracle)},
                      {"random", baseline_json(r.random)},
                      {"cv", r.cv ? json::value(cv_json(*r.cv)) : json::value(nullptr)},
                      {"seconds", r.seconds}};
}

std::string eval_multi_text(const MultiEvalResult& r) {
  std::string out;
  out += fmt::format(
      "route {} ({}) on {}: {} rows evaluated of {} ({}; {} excluded as train, "
      "{} for a missing grade, {} without prompt)\n",
      r.route, r.route_kind, r.dataset, r.n_rows, r.n_rows_file, r.split_applied,
      r.n_excluded_train, r.n_excluded_missing, r.n_missing_prompt);
  int64_t missing = 0;
  for (const auto& [m, c] : r.missing_cells_file) missing += c;
  out += fmt::format(
      "missing grade cells in the file: {} (counted, never read as 0); cost = sum of the "
      "recorded <model>|cost of every model called\n",
      missing);
  out +=
      fmt::format("\n{:<36} {:>8} {:>12} {:>12}\n", "baseline", "quality", "cost $", "cost/best");
  auto line = [&](const ModelBaseline& m) {
    out += fmt::format("{:<36} {:>8.4f} {:>12.5f} {:>11.1f}%\n", m.model, m.quality, m.cost_usd,
                       100 * m.cost_usd / std::max(1e-12, r.best_cost_usd));
  };
  for (const auto& m : r.models) line(m);
  line(r.oracle);
  line(r.random);
  out += fmt::format("\n{:>6} {:>8} {:>12} {:>10} {:>8} {:>8} {:>8}  top answering models\n",
                     r.knob.empty() ? "knob" : r.knob.substr(0, 6),
                     "quality", "cost $", "cost/best", "acc", "over", "under");
  auto pline = [&](const MultiPoint& p, const char* tag) {
    std::vector<std::pair<double, std::string>> s;
    for (const auto& [m, v] : p.share) s.emplace_back(v, m);
    std::sort(s.rbegin(), s.rend());
    std::string top;
    for (std::size_t i = 0; i < s.size() && i < 3; ++i) {
      top += fmt::format("{}{} {:.0f}%", i ? ", " : "", s[i].second, 100 * s[i].first);
    }
    out += fmt::format("{:>6.2f} {:>8.4f} {:>12.5f} {:>9.1f}% {:>8.3f} {:>8.3f} {:>8.3f}  {}{}\n",
                       p.bar, p.quality, p.cost_usd,
                       100 * p.cost_usd / std::max(1e-12, r.best_cost_usd), p.routing.accuracy,
                       p.routing.over, p.routing.under, top, tag);
  };
  pline(r.operating, "  (configured)");
  for (const auto& p : r.points) pline(p, "");
  out += fmt::format("\nbest single model: {} quality {:.4f}; ", r.best_model, r.best_quality);
  out += r.cost_ratio_at_best_quality
             ? fmt::format("route reaches {:.4f} at {:.1f}% of its cost\n", r.best_quality - 0.01,
                           100 * *r.cost_ratio_at_best_quality)
             : fmt::format("route never reaches {:.4f}\n", r.best_quality - 0.01);
  if (r.quality_at_40pct_cost) {
    out +=
        fmt::format("best route quality at <= 40% of its cost: {:.4f}\n", *r.quality_at_40pct_cost);
  }
  if (r.cv) out += cv_text(*r.cv, r.knob);
  return out;
}

std::string eval_multi_svg(const MultiEvalResult& r) {
  constexpr double kW = 760, kH = 500, kL = 70, kR = 230, kT = 40, kB = 60;
  double max_cost = r.best_cost_usd;
  double min_q = 1.0, max_q = 0.0;
  auto seen = [&](double c, double q) {
    max_cost = std::max(max_cost, c);
    min_q = std::min(min_q, q);
    max_q = std::max(max_q, q);
  };
  for (const auto& m : r.models) seen(m.cost_usd, m.quality);
  seen(r.oracle.cost_usd, r.oracle.quality);
  seen(r.random.cost_usd, r.random.quality);
  seen(r.operating.cost_usd, r.operating.quality);
  for (const auto& p : r.points) seen(p.cost_usd, p.quality);
  min_q = std::max(0.0, std::floor(min_q * 20 - 1) / 20);
  max_q = std::min(1.0, std::ceil(max_q * 20 + 0.5) / 20);
  max_cost = max_cost > 0 ? max_cost * 1.05 : 1.0;
  auto x = [&](double c) { return kL + (kW - kL - kR) * c / max_cost; };
  auto y = [&](double q) {
    return kH - kB - (kH - kT - kB) * (q - min_q) / std::max(1e-9, max_q - min_q);
  };
  std::string s = output::svg_open(kW, kH, 11);
  s += fmt::format(
      "<text x=\"{}\" y=\"22\" font-size=\"14\">{}: route '{}' on {} rows (cost = recorded "
      "$)</text>\n",
      kL, fs::path(r.dataset).filename().string(), r.route, r.n_rows);
  s += output::svg_axes(kL, kH - kB, kW - kR, kT);
  for (int i = 0; i <= 5; ++i) {
    const double c = max_cost * i / 5, q = min_q + (max_q - min_q) * i / 5;
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.3f}</text>\n", x(c),
                     kH - kB + 15, c);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.2f}</text>\n", kL - 5,
                     y(q) + 4, q);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">total cost (USD)</text>\n",
                   (kL + kW - kR) / 2, kH - 20);
  s += fmt::format(
      "<text x=\"15\" y=\"{}\" transform=\"rotate(-90 15 {})\" "
      "text-anchor=\"middle\">quality</text>\n",
      (kT + kH - kB) / 2, (kT + kH - kB) / 2);
  // Target band: best - 0.01, and 40% of the best model's cost.
  s += fmt::format(
      "<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#999\" stroke-dasharray=\"4 "
      "3\"/>\n",
      kL, y(r.best_quality - 0.01), kW - kR, y(r.best_quality - 0.01));
  s += fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 "
      "3\"/>\n",
      x(0.4 * r.best_cost_usd), kT, x(0.4 * r.best_cost_usd), kH - kB);
  if (!r.points.empty()) {
    std::string path;
    for (const auto& p : r.points)
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "" : " ", x(p.cost_usd), y(p.quality));
    s +=
        "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"" + path + "\"/>\n";
  }
  s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"#1f77b4\"/>\n",
                   x(r.operating.cost_usd), y(r.operating.quality));
  for (const auto& m : r.models) {
    s += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"6\" height=\"6\" fill=\"#d62728\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\">{}</text>\n",
        x(m.cost_usd) - 3, y(m.quality) - 3, x(m.cost_usd) + 5, y(m.quality) + 3, m.dataset_model);
  }
  s += fmt::format("<path d=\"M{0:.1f},{1:.1f} l4,8 l-8,0 z\" fill=\"#2ca02c\"/>\n",
                   x(r.oracle.cost_usd), y(r.oracle.quality) - 5);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\">X</text>\n",
                   x(r.random.cost_usd) - 3, y(r.random.quality) + 3);
  const double lx = kW - kR + 15;
  s += fmt::format(
      "<polyline points=\"{0},{1} {2},{1}\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
      "<text x=\"{3}\" y=\"{4}\">route '{5}' ({6} sweep; dot = configured)</text>\n",
      lx, kT + 10, lx + 20, lx + 25, kT + 14, r.route, r.knob.empty() ? "no" : r.knob);
  s += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"6\" height=\"6\" fill=\"#d62728\"/><text x=\"{}\" "
      "y=\"{}\">single models</text>\n",
      lx + 7, kT + 25, lx + 25, kT + 32);
  s += fmt::format(
      "<path d=\"M{},{} l4,8 l-8,0 z\" fill=\"#2ca02c\"/><text x=\"{}\" y=\"{}\">oracle</text>\n",
      lx + 10, kT + 41, lx + 25, kT + 50);
  s += fmt::format(
      "<text x=\"{}\" y=\"{}\" font-size=\"9\">X</text><text x=\"{}\" y=\"{}\">random</text>\n",
      lx + 7, kT + 68, lx + 25, kT + 68);
  s += fmt::format(
      "<text x=\"{}\" y=\"{}\" fill=\"#666\">dashed: best - 0.01, 40% of best cost</text>\n", lx,
      kT + 86);
  s += "</svg>\n";
  return s;
}

}  // namespace triage::eval

// Text, JSON and SVG renderings of an EvalResult (eval/eval_pairs.h).
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>

#include "eval/eval_pairs.h"
#include "output/output_format.h"
#include "output/svg_plot.h"

namespace triage::eval {

namespace {

namespace json = boost::json;

json::object point_json(const EvalPoint& p, bool pair) {
  json::object share;
  for (const auto& [m, s] : p.share) share[m] = s;
  json::object o{{"threshold", p.threshold},
                 {"n", p.n},
                 {"quality", p.quality},
                 {"cost_usd", p.cost_usd},
                 {"cpi_usd", p.cpi_usd},
                 {"share", std::move(share)},
                 {"errors", p.errors},
                 {"ungraded", p.ungraded},
                 {"routing_us_mean", p.n ? static_cast<double>(p.routing_us) / p.n : 0.0}};
  if (pair) {
    o["strong_share"] = p.strong_share;
    o["pgr"] = p.pgr;
    o["routing_accuracy"] = p.routing.accuracy;
    o["over_routing"] = p.routing.over_routing;
    o["under_routing"] = p.routing.under_routing;
  }
  return o;
}

std::string pct(const std::optional<double>& v) { return output::pct_or(v, "n/a"); }

}  // namespace

json::object eval_json(const EvalResult& r) {
  json::object o;
  o["route"] = r.route;
  o["route_kind"] = r.route_kind;
  o["config"] = r.config_path;
  o["dataset"] = r.dataset;
  o["dataset_sha256"] = r.dataset_sha256;
  o["split"] = r.split_applied;
  o["rows"] = json::object{{"in_file", r.n_rows_file},
                           {"evaluated", r.n_rows},
                           {"excluded_train_split", r.n_excluded_train},
                           {"excluded_category", r.n_excluded_category},
                           {"in_scorer_training", r.n_in_scorer_training},
                           {"missing_prompt", r.n_missing_prompt},
                           {"with_both_grades", r.n_pair_rows}};
  o["apgr"] = output::json_or_null(r.apgr);
  o["cpt50"] = output::json_or_null(r.cpt50);
  o["cpt80"] = output::json_or_null(r.cpt80);
  o["cost_axis"] = "share of strong calls (RouteLLM); cost_usd per point is also given";
  o["operating_point"] = point_json(r.operating, r.is_pair);
  json::array pts;
  for (const auto& p : r.points) pts.push_back(point_json(p, r.is_pair));
  o["points"] = std::move(pts);
  json::object b;
  if (r.is_pair) {
    o["weak_model"] = r.weak_model;
    o["strong_model"] = r.strong_model;
    b["all_weak"] = point_json(*r.all_weak, true);
    b["all_strong"] = point_json(*r.all_strong, true);
    b["random"] = json::object{{"apgr", 0.5}, {"cpt50", 0.5}, {"cpt80", 0.8},
                               {"note", "expected values: PGR = share of strong calls"}};
    json::array curve;
    for (const auto& q : r.oracle) {
      curve.push_back(json::object{{"strong_share", q.strong_share}, {"quality", q.quality}});
    }
    b["oracle"] = json::object{{"quality", r.oracle_quality},
                               {"strong_share", r.oracle_strong_share},
                               {"apgr", r.oracle_apgr},
                               {"curve", std::move(curve)}};
  }
  o["baselines"] = std::move(b);
  o["cv"] = r.cv ? json::value(cv_json(*r.cv)) : json::value(nullptr);
  o["seconds"] = r.seconds;
  return o;
}

std::string eval_text(const EvalResult& r) {
  std::string s;
  s += fmt::format("route '{}' ({}) on {} [{}]\n", r.route, r.route_kind, r.dataset, r.split_applied);
  s += fmt::format("rows: {} in file, {} evaluated, {} excluded as the scorer's training part, {} "
                   "excluded by category, {} without prompt\n",
                   r.n_rows_file, r.n_rows, r.n_excluded_train, r.n_excluded_category,
                   r.n_missing_prompt);
  if (r.n_in_scorer_training > 0) {
    s += fmt::format("warning: {} evaluated rows are among the scorer's training prompts; it finds "
                     "their own grades among their neighbours, so the numbers are optimistic\n",
                     r.n_in_scorer_training);
  }
  if (r.is_pair) {
    s += fmt::format("pair: weak {} (quality {:.4f}, cost ${:.4f}), strong {} (quality {:.4f}, "
                     "cost ${:.4f}); oracle quality {:.4f} at {:.1f}% strong (APGR {:.3f})\n",
                     r.weak_model, r.all_weak->quality, r.all_weak->cost_usd, r.strong_model,
                     r.all_strong->quality, r.all_strong->cost_usd, r.oracle_quality,
                     r.oracle_strong_share * 100, r.oracle_apgr);
    if (r.swept) {
      s += fmt::format("APGR {:.3f}   CPT(50%) {}   CPT(80%) {}   (random: 0.500, 50.0%, 80.0%)\n",
                       *r.apgr, pct(r.cpt50), pct(r.cpt80));
    }
  }
  s += fmt::format("{:>10} {:>8} {:>8} {:>7} {:>11} {:>12} {:>7} {:>6} {:>6} {:>6}\n", "threshold",
                   "strong%", "quality", "PGR", "cost_usd", "CPI_usd", "acc", "over", "under", "err");
  auto row = [&](const EvalPoint& p, const char* mark) {
    s += fmt::format("{:>10.4f} {:>7.1f}% {:>8.4f} {:>7.3f} {:>11.5f} {:>12.8f} {:>7.3f} {:>6.3f} "
                     "{:>6.3f} {:>6}{}\n",
                     p.threshold, p.strong_share * 100, p.quality, p.pgr, p.cost_usd, p.cpi_usd,
                     p.routing.accuracy, p.routing.over_routing, p.routing.under_routing, p.errors,
                     mark);
  };
  row(r.operating, "  <- as configured");
  for (const auto& p : r.points) row(p, "");
  if (!r.is_pair) {
    for (const auto& [m, sh] : r.operating.share) s += fmt::format("  share {}: {:.1f}%\n", m, sh * 100);
  }
  if (r.cv) s += cv_text(*r.cv, "threshold");
  return s;
}

std::string eval_svg(const EvalResult& r) {
  constexpr double W = 640, H = 440, L = 60, R = 20, T = 40, B = 50;
  double lo = 1.0, hi = 0.0;
  auto see = [&](double q) {
    lo = std::min(lo, q);
    hi = std::max(hi, q);
  };
  see(r.operating.quality);
  for (const auto& p : r.points) see(p.quality);
  for (const auto& q : r.oracle) see(q.quality);
  if (r.all_weak) see(r.all_weak->quality);
  if (r.all_strong) see(r.all_strong->quality);
  lo = std::max(0.0, lo - 0.02);
  hi = std::min(1.0, hi + 0.02);
  if (hi <= lo) hi = lo + 0.1;
  auto x = [&](double share) { return L + share * (W - L - R); };
  auto y = [&](double q) { return H - B - (q - lo) / (hi - lo) * (H - T - B); };
  std::string s = output::svg_open(W, H, 12);
  std::string title = fmt::format("{} on {}", r.route, r.dataset);
  if (r.apgr) title += fmt::format(" - APGR {:.3f}, CPT80 {}", *r.apgr, pct(r.cpt80));
  s += fmt::format("<text x=\"{}\" y=\"20\" font-size=\"14\">{}</text>\n", L, output::xml_escape(title));
  s += output::svg_axes(L, H - B, W - R, T);
  for (int i = 0; i <= 5; ++i) {
    const double sh = i / 5.0, q = lo + (hi - lo) * i / 5.0;
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:.0f}%</text>\n", x(sh),
                     H - B + 16, sh * 100);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.3f}</text>\n", L - 4,
                     y(q) + 4, q);
  }
  s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">share of strong calls "
                   "(cost share)</text>\n",
                   x(0.5), H - 12);
  s += fmt::format("<text x=\"14\" y=\"{:.1f}\" transform=\"rotate(-90 14 {:.1f})\" "
                   "text-anchor=\"middle\">quality</text>\n",
                   y((lo + hi) / 2), y((lo + hi) / 2));
  auto polyline = [&](const std::vector<std::pair<double, double>>& pts, const char* color,
                      const char* dash) {
    std::string p;
    for (const auto& [sh, q] : pts) p += fmt::format("{:.1f},{:.1f} ", x(sh), y(q));
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" "
                     "stroke-dasharray=\"{}\" points=\"{}\"/>\n",
                     color, dash, p);
  };
  struct Legend {
    const char* color;
    std::string text;
  };
  std::vector<Legend> legend;
  if (r.is_pair) {
    polyline({{0.0, r.all_weak->quality}, {1.0, r.all_strong->quality}}, "gray", "6,4");
    legend.push_back({"gray", "random (expected)"});
    std::vector<std::pair<double, double>> o;
    for (const auto& q : r.oracle) o.emplace_back(q.strong_share, q.quality);
    polyline(o, "green", "none");
    legend.push_back({"green", fmt::format("oracle (APGR {:.3f})", r.oracle_apgr)});
  }
  if (!r.points.empty()) {
    std::vector<std::pair<double, double>> c;
    for (const auto& p : r.points) c.emplace_back(p.strong_share, p.quality);
    polyline(c, "#1f5fbf", "none");
    legend.push_back({"#1f5fbf", "route " + r.route + " (threshold sweep)"});
  }
  auto dot = [&](double sh, double q, const char* color) {
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"/>\n", x(sh), y(q),
                     color);
  };
  if (r.is_pair) {
    dot(0.0, r.all_weak->quality, "orange");
    legend.push_back({"orange", "all-weak: " + r.weak_model});
    dot(1.0, r.all_strong->quality, "red");
    legend.push_back({"red", "all-strong: " + r.strong_model});
  }
  dot(r.is_pair ? r.operating.strong_share : 0.0, r.operating.quality, "black");
  legend.push_back({"black", fmt::format("as configured (t={:.3f})", r.operating.threshold)});
  // A light backdrop so curves running under the legend do not cross its text.
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"236\" height=\"{}\" fill=\"white\" "
                   "fill-opacity=\"0.85\"/>\n",
                   W - R - 236, T - 4, 16 * legend.size() + 6);
  for (std::size_t i = 0; i < legend.size(); ++i) {
    const double ly = T + 10 + 16 * static_cast<double>(i);
    s += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"12\" height=\"4\" fill=\"{}\"/>\n",
                     W - R - 230, ly - 4, legend[i].color);
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\">{}</text>\n", W - R - 212, ly, output::xml_escape(legend[i].text));
  }
  s += "</svg>\n";
  return s;
}

}  // namespace triage::eval

#include "eval/eval_classifier.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "eval/eval_engine.h"
#include "output/output_format.h"
#include "output/svg_plot.h"
#include "routes/classify_route.h"  // the review flags a classify route sets

namespace triage::eval {

namespace {

namespace json = boost::json;

void add(BandSet& s, routes::Band b, bool right) {
  BandStats& st = b == routes::Band::kUse ? s.use : b == routes::Band::kFlag ? s.flag : s.escalate;
  ++st.n;
  st.right += right;
  ++s.total;
}

json::object bands_json(const BandSet& s) {
  return json::object{{"n", s.total},
                      {"use_band_coverage", s.use.share(s.total)},
                      {"use_band_accuracy", output::json_or_null(s.use.accuracy())},
                      {"flag_band_share", s.flag.share(s.total)},
                      {"flag_band_accuracy", output::json_or_null(s.flag.accuracy())},
                      {"escalate_band_share", s.escalate.share(s.total)},
                      {"escalate_band_accuracy", output::json_or_null(s.escalate.accuracy())}};
}

std::string pct(const std::optional<double>& v) { return output::pct_or(v, "n/a"); }

double ratio(int64_t num, int64_t den) {
  return den ? static_cast<double>(num) / static_cast<double>(den) : 0.0;
}

}  // namespace

ClassifierEvalResult evaluate_classifier(const EvalOptions& o, const datasets::EvalData& data,
                                         EvalEngine& engine, const routes::IntentBandsEval& bands) {
  ClassifierEvalResult res;
  res.config_path = o.config_path;
  res.route = o.route;
  res.dataset = o.dataset;
  res.dataset_sha256 = data.sha256;
  res.n_invalid_rows = data.invalid_intent_rows;
  const std::vector<datasets::IntentRow>& rows = data.intents;
  routes::Route* route = &engine.route();
  res.route_kind = std::string(route->kind());
  res.calibration_method = bands.calibration;
  res.band_use = bands.bands.use;
  res.band_flag = bands.bands.flag;

  // Decisions (pure) and the engine run of every row.
  std::vector<routes::ClassifyDecision> decisions;
  decisions.reserve(rows.size());
  for (const auto& r : rows) decisions.push_back(bands.decide(r.text));
  std::map<std::string, int64_t> answered;
  run_requests(
      *route, rows.size(),
      [&](std::size_t i) { return eval_request(route->name(), rows[i].text, "", i); },
      [&](std::size_t i, const Result<core::Completion>& r, const core::Trace& trace) {
        if (r) {
          ++answered[r->model];
        } else {
          ++res.errors;
        }
        res.cost_usd += trace.cost_usd;
        res.routing_us += trace.routing_us;
        const auto& d = decisions[i];
        const bool agree =
            core::has_flag(trace.flags, core::ReviewFlag::kFlagBand) ==
                (d.band == routes::Band::kFlag) &&
            core::has_flag(trace.flags, core::ReviewFlag::kEscalated) == d.escalated &&
            trace.label == d.label;
        res.band_mismatches += !agree;
      });

  std::vector<double> conf, raw;
  std::vector<bool> right;
  int64_t n_right = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& d = decisions[i];
    const bool is_oos = rows[i].intent == "oos";
    const bool ok = d.label == rows[i].intent;
    n_right += ok;
    conf.push_back(d.confidence);
    raw.push_back(d.raw_confidence);
    right.push_back(ok);
    add(res.all, d.band, ok);
    add(is_oos ? res.oos : res.in_scope, d.band, ok);
    if (is_oos && d.label == "oos") ++res.oos_predicted_oos;
    if (is_oos && d.label != "oos" && d.band == routes::Band::kUse) ++res.oos_answered_in_use;
    if (d.band == routes::Band::kEscalate) ++(d.escalated ? res.n_escalated : res.n_low_confidence);
  }
  res.n_rows = static_cast<int64_t>(rows.size());
  res.n_oos = res.oos.total;
  res.n_in_scope = res.in_scope.total;
  res.accuracy = static_cast<double>(n_right) / static_cast<double>(res.n_rows);
  res.ece = ml::expected_calibration_error(conf, right);
  res.ece_raw = ml::expected_calibration_error(raw, right);
  res.reliability = ml::reliability_table(conf, right, 10);
  for (const auto& [m, c] : answered) res.share[m] = static_cast<double>(c) / res.n_rows;
  std::set<double> cuts{0.5,  0.6,  0.7,  0.8,  0.85, 0.9,  0.91, 0.92,
                        0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99};
  cuts.insert(res.band_use);
  for (double t : cuts) {
    BandStats s;
    CurvePoint p;
    for (std::size_t i = 0; i < conf.size(); ++i) {
      if (conf[i] >= t) {
        ++s.n;
        s.right += right[i];
        const bool is_oos = rows[i].intent == "oos";
        p.oos_n += is_oos;
        p.oos_answered += is_oos && decisions[i].label != "oos";
      }
    }
    p.use = t;
    p.coverage = s.share(res.n_rows);
    p.accuracy = s.accuracy();
    p.n = s.n;
    p.right = s.right;
    res.curve.push_back(p);
  }
  return res;
}

json::object classifier_eval_json(const ClassifierEvalResult& r) {
  json::object o;
  o["kind"] = "classifier";
  o["config"] = r.config_path;
  o["route"] = r.route;
  o["route_kind"] = r.route_kind;
  o["dataset"] = r.dataset;
  o["dataset_sha256"] = r.dataset_sha256;
  o["calibration"] = r.calibration_method;
  o["bands"] = json::object{{"use", r.band_use}, {"flag", r.band_flag}};
  o["n_rows"] = r.n_rows;
  o["n_in_scope"] = r.n_in_scope;
  o["n_oos"] = r.n_oos;
  o["n_invalid_rows"] = r.n_invalid_rows;
  o["accuracy"] = r.accuracy;
  o["use_band_coverage"] = r.all.use.share(r.all.total);
  o["use_band_accuracy"] = output::json_or_null(r.all.use.accuracy());
  o["flag_band_share"] = r.all.flag.share(r.all.total);
  o["flag_band_accuracy"] = output::json_or_null(r.all.flag.accuracy());
  o["escalate_band_share"] = r.all.escalate.share(r.all.total);
  o["escalate_band_accuracy"] = output::json_or_null(r.all.escalate.accuracy());
  o["escalated_share"] = r.n_rows ? static_cast<double>(r.n_escalated) / r.n_rows : 0.0;
  o["low_confidence_share"] = r.n_rows ? static_cast<double>(r.n_low_confidence) / r.n_rows : 0.0;
  // The out-of-scope view of the bands (header definitions), null without oos rows.
  auto oos_share = [&](int64_t n) {
    return r.n_oos ? json::value(ratio(n, r.n_oos)) : json::value(nullptr);
  };
  o["oos_in_use_band_share"] = oos_share(r.oos.use.n);
  o["oos_in_flag_band_share"] = oos_share(r.oos.flag.n);
  o["oos_answered_in_use_band_share"] = oos_share(r.oos_answered_in_use);
  o["in_scope_use_band_coverage"] = r.in_scope.use.share(r.in_scope.total);
  o["in_scope_use_band_accuracy"] = output::json_or_null(r.in_scope.use.accuracy());
  o["in_scope"] = bands_json(r.in_scope);
  json::object oos = bands_json(r.oos);
  oos["recall"] = r.n_oos ? json::value(static_cast<double>(r.oos_predicted_oos) / r.n_oos)
                          : json::value(nullptr);
  o["oos"] = std::move(oos);
  o["ece"] = r.ece;
  o["ece_raw"] = r.ece_raw;
  json::array rel;
  for (const auto& b : r.reliability) {
    rel.push_back(json::object{{"lo", b.lo},
                               {"hi", b.hi},
                               {"n", b.n},
                               {"mean_confidence", b.mean_confidence},
                               {"accuracy", b.accuracy}});
  }
  o["reliability"] = std::move(rel);
  json::array curve;
  for (const auto& p : r.curve) {
    curve.push_back(json::object{{"use", p.use},
                                 {"coverage", p.coverage},
                                 {"accuracy", output::json_or_null(p.accuracy)},
                                 {"n", p.n},
                                 {"right", p.right},
                                 {"oos_n", p.oos_n},
                                 {"oos_answered", p.oos_answered}});
  }
  o["use_threshold_curve"] = std::move(curve);
  json::object share;
  for (const auto& [m, s] : r.share) share[m] = s;
  o["share"] = std::move(share);
  o["cost_usd"] = r.cost_usd;
  o["cpi_usd"] = r.n_rows ? r.cost_usd / r.n_rows : 0.0;
  o["cost_note"] = "non-local models answered an eval placeholder: costs are estimates";
  o["errors"] = r.errors;
  o["routing_us_mean"] = r.n_rows ? static_cast<double>(r.routing_us) / r.n_rows : 0.0;
  o["band_mismatches"] = r.band_mismatches;
  o["seconds"] = r.seconds;
  return o;
}

std::string classifier_eval_text(const ClassifierEvalResult& r) {
  std::string s;
  s += fmt::format("route {} ({}) on {}: {} rows ({} in scope, {} oos, {} invalid skipped)\n",
                   r.route, r.route_kind, r.dataset, r.n_rows, r.n_in_scope, r.n_oos,
                   r.n_invalid_rows);
  s += fmt::format("calibration {}; bands use >= {:.2f}, flag >= {:.2f}\n", r.calibration_method,
                   r.band_use, r.band_flag);
  s += fmt::format("top-1 accuracy {:.1f}%   ECE {:.4f} (raw {:.4f})\n\n", r.accuracy * 100, r.ece,
                   r.ece_raw);
  s += fmt::format("{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "band", "share",
                   "accuracy", "in-scope", "accuracy", "oos", "accuracy");
  auto line = [&](const char* name, const BandStats& a, const BandStats& i, const BandStats& x) {
    s += fmt::format("{:<10} {:>9.1f}% {:>10} {:>9.1f}% {:>10} {:>9.1f}% {:>10}\n", name,
                     a.share(r.all.total) * 100, pct(a.accuracy()), i.share(r.in_scope.total) * 100,
                     pct(i.accuracy()), x.share(r.oos.total) * 100, pct(x.accuracy()));
  };
  line("use", r.all.use, r.in_scope.use, r.oos.use);
  line("flag", r.all.flag, r.in_scope.flag, r.oos.flag);
  line("escalate", r.all.escalate, r.in_scope.escalate, r.oos.escalate);
  s += fmt::format("\nuse_band_coverage {:.4f}  use_band_accuracy {}  (all queries)\n",
                   r.all.use.share(r.all.total), pct(r.all.use.accuracy()));
  s += fmt::format("in scope only: use_band_coverage {:.4f}  use_band_accuracy {}\n",
                   r.in_scope.use.share(r.in_scope.total), pct(r.in_scope.use.accuracy()));
  if (r.n_oos > 0) {
    s += fmt::format(
        "out of scope: {:.1f}% in the use band ({:.1f}% answered there with an in-scope "
        "label), {:.1f}% in the flag band\n",
        ratio(r.oos.use.n, r.n_oos) * 100, ratio(r.oos_answered_in_use, r.n_oos) * 100,
        ratio(r.oos.flag.n, r.n_oos) * 100);
  }
  s += "\nreliability (calibrated confidence)\n";
  for (const auto& b : r.reliability) {
    if (b.n == 0) continue;
    s += fmt::format("  [{:.1f}, {:.1f}) n={:<5} confidence {:.3f}  accuracy {:.3f}\n", b.lo, b.hi,
                     b.n, b.mean_confidence, b.accuracy);
  }
  s += "\nuse threshold -> coverage / accuracy\n";
  for (const auto& p : r.curve) {
    s += fmt::format("  {:.2f}  {:5.1f}%  {}\n", p.use, p.coverage * 100, pct(p.accuracy));
  }
  s += "\nanswered by:";
  for (const auto& [m, sh] : r.share) s += fmt::format(" {} {:.1f}%", m, sh * 100);
  s += fmt::format("\nerrors {}  band mismatches {}  ({:.1f} s)\n", r.errors, r.band_mismatches,
                   r.seconds);
  return s;
}

std::string classifier_eval_svg(const ClassifierEvalResult& r) {
  const double w = 420, h = 420, m = 50, side = w - 2 * m;
  auto x = [&](double v) { return m + v * side; };
  auto y = [&](double v) { return h - m - v * side; };
  std::string s = output::svg_open(w, h, 11);
  s += fmt::format(
      "<text x=\"{}\" y=\"20\" text-anchor=\"middle\">Reliability of route {} "
      "(ECE {:.3f})</text>\n",
      w / 2, r.route, r.ece);
  s += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
      "stroke=\"black\"/>\n",
      m, m, side, side);
  s += fmt::format(
      "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"gray\" "
      "stroke-dasharray=\"4\"/>\n",
      x(0), y(0), x(1), y(1));
  for (const auto& b : r.reliability) {
    if (b.n == 0) continue;
    s += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "fill=\"steelblue\" fill-opacity=\"0.7\"><title>n={}</title></rect>\n",
        x(b.lo) + 1, y(b.accuracy), (b.hi - b.lo) * side - 2, b.accuracy * side, b.n);
  }
  s += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"red\"/>\n",
                   x(r.band_use), y(0), y(1));
  s += fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">calibrated confidence "
      "(red: use band)</text>\n",
      w / 2, h - 15);
  s += fmt::format(
      "<text x=\"15\" y=\"{}\" transform=\"rotate(-90 15 {})\" "
      "text-anchor=\"middle\">accuracy</text>\n</svg>\n",
      h / 2, h / 2);
  return s;
}

}  // namespace triage::eval

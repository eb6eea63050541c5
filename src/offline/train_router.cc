#include "offline/train_router.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <iostream>
#include <map>

#include "common/clock.h"
#include "common/csv.h"
#include "ml/fasttext_model.h"
#include "offline/output_format.h"
#include "offline/pair_metrics.h"
#include "offline/train_common.h"
#include "routes/threshold_route.h"

namespace triage::offline {

namespace {

namespace json = boost::json;

struct Row {
  std::string key;
  std::string prompt;
  std::string category;
  double weak = 0.0;
  double strong = 0.0;
  SplitPart part = SplitPart::kFit;
  bool needed() const { return strong > weak; }
};

std::vector<Row> load_rows(const std::string& path, const SplitRule& split, int64_t& skipped) {
  CsvTable t = read_csv_file(path);
  auto need = [&](const char* name) {
    auto c = t.column(name);
    if (!c) {
      throw ml::ModelError(path + ": no column '" + name + "' (a RouteLLM-format pair dataset "
                           "needs prompt, weak_correct, strong_correct; columns: " +
                           t.columns_list() + ")");
    }
    return *c;
  };
  const auto prompt = need("prompt");
  const auto weak = need("weak_correct");
  const auto strong = need("strong_correct");
  auto key = t.column(split.key_column);
  const auto category = category_column(t);
  std::vector<Row> rows;
  skipped = 0;
  for (const auto& r : t.rows) {
    auto w = parse_number_cell(r[weak]);
    auto s = parse_number_cell(r[strong]);
    if (!r[prompt] || !w || !s) {
      ++skipped;
      continue;
    }
    Row row;
    row.prompt = *r[prompt];
    row.key = key && r[*key] ? *r[*key] : row.prompt;
    row.category = category && r[*category] ? *r[*category] : std::string();
    row.weak = *w;
    row.strong = *s;
    row.part = split.part(row.key);
    rows.push_back(std::move(row));
  }
  if (rows.empty()) throw ml::ModelError(path + ": no usable rows");
  return rows;
}

SubsetMetrics metrics(const std::vector<const Row*>& rows, const std::vector<double>& scores) {
  SubsetMetrics m;
  m.n = static_cast<int64_t>(rows.size());
  if (rows.empty()) return m;
  std::vector<double> weak, strong, needed;
  for (const Row* r : rows) {
    weak.push_back(r->weak);
    strong.push_back(r->strong);
    needed.push_back(r->needed() ? 1.0 : 0.0);
  }
  // Exact PGR curve of the scorer: rows sent strong from the highest score down.
  const ScoreCurve curve = score_pgr_curve(scores, weak, strong, /*high_goes_strong=*/true);
  m.weak_quality = curve.weak_quality;
  m.strong_quality = curve.strong_quality;
  m.apgr = apgr(curve.points);
  m.cpt50 = cpt(curve.points, 0.5);
  m.cpt80 = cpt(curve.points, 0.8);
  double brier = 0.0, pos = 0.0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double y = needed[i];
    brier += (scores[i] - y) * (scores[i] - y);
    pos += y;
  }
  const double n = static_cast<double>(rows.size());
  m.ece = binned_ece(scores, needed);
  m.brier = brier / n;
  m.positive_rate = pos / n;
  return m;
}

std::vector<ml::LabeledExample> examples(const std::vector<const Row*>& rows,
                                         const std::string& label, bool use_category) {
  std::vector<ml::LabeledExample> out;
  out.reserve(rows.size());
  for (const Row* r : rows) {
    const bool pos = label == "weak_fails" ? r->weak < 0.5 : r->needed();
    out.push_back({routes::router_feature_text(r->prompt, r->category, use_category),
                   pos ? "strong" : "weak"});
  }
  return out;
}

json::object metrics_json(const SubsetMetrics& m) {
  return json::object{{"n", m.n},
                      {"weak_quality", m.weak_quality},
                      {"strong_quality", m.strong_quality},
                      {"apgr", m.apgr},
                      {"cpt50", json_or_null(m.cpt50)},
                      {"cpt80", json_or_null(m.cpt80)},
                      {"ece", m.ece},
                      {"brier", m.brier},
                      {"positive_rate", m.positive_rate}};
}

}  // namespace

TrainRouterReport train_router(const TrainRouterOptions& o) {
  const SteadyTime start = SteadyClock::now();
  TrainRouterReport rep;
  if (o.out_path.empty()) throw ml::ModelError("train router: no output path");
  std::vector<Row> rows = load_rows(o.dataset, o.split, rep.n_skipped);
  rep.n_rows = static_cast<int64_t>(rows.size());
  rep.data_file_sha256 = file_sha256(o.dataset);
  bool has_category = false;
  for (const Row& r : rows) has_category = has_category || !r.category.empty();
  const SplitParts<Row> parts = split_parts(rows, o.dataset);
  const std::vector<const Row*>& fit = parts.fit;
  const std::vector<const Row*>& calib = parts.calibration;
  const std::vector<const Row*>& test = parts.test;
  rep.n_fit = static_cast<int64_t>(fit.size());
  rep.n_calibration = static_cast<int64_t>(calib.size());
  rep.n_test = static_cast<int64_t>(test.size());

  std::vector<std::string> labels = {"strong_needed", "weak_fails"};
  if (o.label != "auto") labels = {o.label};
  std::vector<std::string> feature_sets = {"prompt"};
  if (has_category) feature_sets.push_back("category+prompt");
  if (o.features != "auto") feature_sets = {o.features};
  // A small grid: the data are small and the labels noisy, so few epochs / low rates win.
  const std::vector<TrainHyper> grid = {{5, 0.1, 2, 50}, {10, 0.05, 1, 50}, {20, 0.05, 2, 20}};

  const std::string tmp_base = o.out_path + ".candidate";
  std::string best_path;
  double best_apgr = -1e9;
  int idx = 0;
  for (const auto& label : labels) {
    for (const auto& feats : feature_sets) {
      const bool use_cat = feats == "category+prompt";
      for (const TrainHyper& h : grid) {
        const ml::TrainSpec spec =
            train_spec(examples(fit, label, use_cat),
                       tmp_base + std::to_string(idx++) + ".bin", h, o.threads, o.split);
        ml::train_classifier(spec);
        auto model = ml::FastTextModel::load(spec.out_path);
        std::vector<double> scores;
        for (const Row* r : calib) {
          scores.push_back(ml::label_probability(
              *model, routes::router_feature_text(r->prompt, r->category, use_cat), "strong", 0.0));
        }
        CandidateResult c{label, feats, h.epoch, h.lr, h.word_ngrams, h.dim,
                          metrics(calib, scores).apgr};
        rep.candidates.push_back(c);
        if (c.calibration_apgr > best_apgr) {
          if (!best_path.empty()) remove_model(best_path);
          best_apgr = c.calibration_apgr;
          best_path = spec.out_path;
          rep.chosen = c;
        } else {
          remove_model(spec.out_path);
        }
      }
    }
  }
  move_model(best_path, o.out_path);
  rep.model_path = o.out_path;
  rep.metadata_path = ml::metadata_path_for(o.out_path);
  const bool use_cat = rep.chosen.features == "category+prompt";

  // Calibration on the calibration slice, target: strong needed. With a category column, the
  // category's training rate of "strong needed" (from the fit part, smoothed towards the
  // prior) is a second input: a 3-parameter logistic regression; else plain Platt scaling.
  auto model = ml::FastTextModel::load(o.out_path);
  std::map<std::string, std::pair<double, double>> by_cat;  // category -> (needed, count)
  double prior = 0;
  for (const Row* r : fit) {
    auto& c = by_cat[r->category];
    c.first += r->needed() ? 1 : 0;
    c.second += 1;
    prior += r->needed() ? 1 : 0;
  }
  prior /= static_cast<double>(fit.size());
  constexpr double kSmoothing = 5.0;  // pseudo-rows at the prior
  std::map<std::string, double> rates;
  for (const auto& [cat, c] : by_cat) {
    if (!cat.empty()) rates[cat] = (c.first + kSmoothing * prior) / (c.second + kSmoothing);
  }
  const bool stack = has_category && o.category_rates;
  auto rate_of = [&](const std::string& cat) {
    auto it = rates.find(cat);
    return it == rates.end() ? prior : it->second;
  };
  std::vector<double> raw;
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  for (const Row* r : calib) {
    const double p = ml::label_probability(
        *model, routes::router_feature_text(r->prompt, r->category, use_cat), "strong", 0.0);
    raw.push_back(p);
    x.push_back(stack ? std::vector<double>{logit(p), logit(rate_of(r->category))}
                      : std::vector<double>{logit(p)});
    y.push_back(r->needed() ? 1 : 0);
  }
  std::vector<double> w = fit_logistic(x, y);
  if (w[0] < 0.0) {
    // A negative slope would invert the model's ranking on the strength of a small slice: the
    // model has no usable signal there. Keep the ranking flat on it instead (reported as a=0).
    for (auto& xi : x) xi[0] = 0.0;
    w = fit_logistic(x, y);
    w[0] = 0.0;
  }
  rep.platt_a = w[0];
  rep.platt_b = w.back();
  rep.category_weight = stack ? w[1] : 0.0;
  json::array validation_scores;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    double z = rep.platt_b;
    for (std::size_t k = 0; k < x[i].size(); ++k) z += w[k] * x[i][k];
    validation_scores.emplace_back(1 / (1 + std::exp(-z)));
  }

  // Metadata: the ml block as written by train_classifier, plus the router block.
  json::object meta = read_json_object(rep.metadata_path);
  json::object router{
      {"format", "triage-router/1"},
      {"positive_label", "strong"},
      {"score", "calibrated P(strong needed), strong needed = strong_correct > weak_correct"},
      {"features", rep.chosen.features},
      {"training_label", rep.chosen.label},
      {"calibration", json::object{{"method", stack ? "logistic(logit p, logit category rate)"
                                                    : "platt"},
                                   {"a", rep.platt_a},
                                   {"b", rep.platt_b},
                                   {"c", rep.category_weight},
                                   {"fitted_on", "calibration slice of the train part"}}},
      {"validation_scores", std::move(validation_scores)}};
  append_split_record(router, {o.split, o.dataset, rep.data_file_sha256, rep.n_fit,
                               rep.n_calibration, rep.n_test, rep.n_skipped});
  if (stack) {
    json::object r;
    for (const auto& [cat, v] : rates) r[cat] = v;
    router["category_rates"] = std::move(r);
    router["category_prior"] = prior;
  }
  meta["router"] = std::move(router);
  write_json_object(rep.metadata_path, meta);

  // Held-out metrics through the serving scorer.
  auto scorer = routes::ThresholdScorer::load(o.out_path);
  auto score_all = [&](const std::vector<const Row*>& part) {
    std::vector<double> s;
    for (const Row* r : part) s.push_back(scorer->score(r->prompt, r->category));
    return s;
  };
  rep.calibration = metrics(calib, score_all(calib));
  rep.test = metrics(test, score_all(test));
  std::vector<const Row*> kept;
  for (const Row* r : test) {
    if (r->category != o.exclude_subject) kept.push_back(r);
  }
  if (!o.exclude_subject.empty() && kept.size() != test.size()) {
    rep.test_without_excluded = metrics(kept, score_all(kept));
  }
  rep.seconds = static_cast<double>(micros_between(start, SteadyClock::now())) / 1e6;

  meta["router"].as_object()["metrics"] = json::object{
      {"calibration", metrics_json(rep.calibration)},
      {"test", metrics_json(rep.test)},
      {"test_without_" + o.exclude_subject,
       rep.test_without_excluded ? json::value(metrics_json(*rep.test_without_excluded))
                                 : json::value(nullptr)}};
  write_json_object(rep.metadata_path, meta);
  return rep;
}

void print_train_router_report(const TrainRouterReport& r, const TrainRouterOptions& o,
                               std::ostream& out) {
  auto pct = [](const std::optional<double>& v) { return pct_or(v, "never"); };
  out << fmt::format("router trained from {} (sha256 {})\n", o.dataset,
                     r.data_file_sha256.substr(0, 16));
  out << fmt::format("rows: {} usable, {} skipped (missing prompt or grade); split by "
                     "fnv1a64(\"{}:<{}>\") % 10000: fit {}, calibration {}, test {}\n",
                     r.n_rows, r.n_skipped, o.split.seed, o.split.key_column, r.n_fit,
                     r.n_calibration, r.n_test);
  out << "candidates (trained on fit, APGR on calibration):\n";
  for (const auto& c : r.candidates) {
    out << fmt::format("  {:<14} {:<16} epoch {:>2} lr {:<5} ngrams {} dim {:>2}  APGR {:.3f}\n",
                       c.label, c.features, c.epoch, c.lr, c.word_ngrams, c.dim,
                       c.calibration_apgr);
  }
  out << fmt::format("chosen: label {}, features {}, epoch {}, lr {}; calibration a={:.3f} "
                     "b={:.3f} c(category rate)={:.3f}\n",
                     r.chosen.label, r.chosen.features, r.chosen.epoch, r.chosen.lr, r.platt_a,
                     r.platt_b, r.category_weight);
  auto line = [&](const char* what, const SubsetMetrics& m) {
    out << fmt::format(
        "{:<34} n={:>5}  weak {:.3f} strong {:.3f}  APGR {:.3f}  CPT50 {:>6}  CPT80 {:>6}  "
        "ECE {:.3f}\n",
        what, m.n, m.weak_quality, m.strong_quality, m.apgr, pct(m.cpt50), pct(m.cpt80), m.ece);
  };
  line("calibration slice (selection):", r.calibration);
  line("TEST (held out):", r.test);
  if (r.test_without_excluded) {
    line(("TEST without " + o.exclude_subject + ":").c_str(), *r.test_without_excluded);
  }
  out << fmt::format("wrote {} and {} ({:.1f} s)\n", r.model_path, r.metadata_path, r.seconds);
}

int run_train_router(const TrainRouterOptions& options) {
  return run_train_command("router", options, train_router, print_train_router_report);
}

}  // namespace triage::offline

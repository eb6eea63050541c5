#include "train/train_scorer.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <iostream>

#include "ml/answer_scorer.h"
#include "common/clock.h"
#include "common/csv.h"
#include "ml/fasttext_model.h"
#include "datasets/dataset_rows.h"
#include "output/output_format.h"
#include "ml/pair_metrics.h"
#include "train/train_common.h"

namespace triage::train {

namespace {

namespace json = boost::json;

constexpr const char* kPositive = "ok";
constexpr const char* kNegative = "bad";

struct Row {
  std::string key, prompt, response;
  bool ok = false;
  double grade = 0.0;                 // the cheap answer's grade (0..1)
  std::optional<double> strong;       // the escalation target's grade
  datasets::SplitPart part = datasets::SplitPart::kFit;
};

std::string derive_strong_column(const CsvTable& t, const TrainScorerOptions& o) {
  if (o.strong_column == "none" || o.strong_column.empty()) return "";
  if (o.strong_column != "auto") {
    if (!t.column(o.strong_column)) {
      throw ml::ModelError(o.dataset + ": no column '" + o.strong_column + "' (columns: " +
                           t.columns_list() + ")");
    }
    return o.strong_column;
  }
  const auto pos = o.label_column.find("weak");
  if (pos == std::string::npos) return "";
  std::string c = o.label_column;
  c.replace(pos, 4, "strong");
  return t.column(c) ? c : "";
}

std::vector<Row> load_rows(const TrainScorerOptions& o, std::string& strong_column,
                           int64_t& skipped) {
  const CsvTable t = read_csv_file(o.dataset);
  auto need = [&](const std::string& name) {
    auto c = t.column(name);
    if (!c) {
      throw ml::ModelError(o.dataset + ": no column '" + name + "' (columns: " +
                           t.columns_list() + ")");
    }
    return *c;
  };
  const auto prompt = need(o.prompt_column);
  const auto response = need(o.response_column);
  const auto label = need(o.label_column);
  strong_column = derive_strong_column(t, o);
  const std::optional<std::size_t> strong =
      strong_column.empty() ? std::nullopt : t.column(strong_column);
  const auto key = t.column(o.split.key_column);
  std::vector<Row> rows;
  skipped = 0;
  for (const auto& r : t.rows) {
    const auto g = datasets::parse_number_cell(r[label]);
    std::optional<double> s;
    if (strong) s = datasets::parse_number_cell(r[*strong]);
    if (!r[prompt] || !r[response] || !g || (strong && !s)) {
      ++skipped;  // counted and reported, never read as an empty answer or a zero grade
      continue;
    }
    Row row;
    row.prompt = *r[prompt];
    row.response = *r[response];
    row.key = key && r[*key] ? *r[*key] : row.prompt;
    row.grade = *g;
    row.ok = *g >= 0.5;
    row.strong = s;
    row.part = o.split.part(row.key);
    rows.push_back(std::move(row));
  }
  if (rows.empty()) throw ml::ModelError(o.dataset + ": no usable rows");
  return rows;
}

// Metrics of P(acceptable) `p` on `rows`.
ScorerMetrics metrics(const std::vector<const Row*>& rows, const std::vector<double>& p) {
  ScorerMetrics m;
  m.n = static_cast<int64_t>(rows.size());
  if (rows.empty()) return m;
  const double n = static_cast<double>(rows.size());
  std::vector<int> ok;
  std::vector<double> ok01;
  double pos = 0;
  for (const Row* r : rows) {
    ok.push_back(r->ok ? 1 : 0);
    ok01.push_back(r->ok ? 1.0 : 0.0);
    pos += r->ok ? 1 : 0;
  }
  m.acceptable_rate = pos / n;
  m.auc = roc_auc(p, ok).value_or(0.5);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double y = ok01[i];
    const double q = std::clamp(p[i], 1e-6, 1 - 1e-6);
    m.log_loss -= (y * std::log(q) + (1 - y) * std::log(1 - q)) / n;
  }
  m.ece = binned_ece(p, ok01);

  if (rows.front()->strong) {
    std::vector<double> weak, strong;
    for (const Row* r : rows) {
      weak.push_back(r->grade);
      strong.push_back(*r->strong);
    }
    // Escalate from the lowest P up; ties move together, as a threshold moves them.
    const ml::ScoreCurve curve = ml::score_pgr_curve(p, weak, strong, /*high_goes_strong=*/false);
    m.apgr = ml::apgr(curve.points);
    m.cpt50 = ml::cpt(curve.points, 0.5);
    m.cpt80 = ml::cpt(curve.points, 0.8);
  }
  return m;
}

// Selection criterion on the calibration slice: cascade APGR when there is a strong grade,
// else AUC (both rank-based, so the raw fastText probability can be used before calibration).
double criterion(const ScorerMetrics& m) { return m.apgr ? *m.apgr : m.auc; }

double raw_p(const ml::FastTextModel& model, const std::string& text) {
  return ml::label_probability(model, text, kPositive, 0.0);
}

json::object metrics_json(const ScorerMetrics& m) {
  return json::object{{"n", m.n},       {"acceptable_rate", m.acceptable_rate},
                      {"auc", m.auc},   {"log_loss", m.log_loss},
                      {"ece", m.ece},   {"apgr", output::json_or_null(m.apgr)},
                      {"cpt50", output::json_or_null(m.cpt50)}, {"cpt80", output::json_or_null(m.cpt80)}};
}

}  // namespace

namespace {

// The feature sets the candidates try: o.features, or every set when "auto".
std::vector<std::string> feature_sets(const TrainScorerOptions& o) {
  if (o.features == "auto") {
    return {"response", "prompt+response", "cheap", "cheap+response", "cheap+prompt+response"};
  }
  if (!ml::ScorerFeatures::parse(o.features)) {
    throw ml::ModelError("--features '" + o.features + "': expected auto or parts cheap, "
                         "prompt, response joined by '+'");
  }
  return {o.features};
}

std::vector<std::string> texts(const std::vector<const Row*>& part, const ml::ScorerFeatures& f) {
  std::vector<std::string> out;
  for (const Row* r : part) out.push_back(ml::scorer_feature_text(r->prompt, r->response, f));
  return out;
}

std::vector<double> score_with(const ml::FastTextModel& m, const std::vector<std::string>& ts) {
  std::vector<double> s;
  for (const auto& t : ts) s.push_back(raw_p(m, t));
  return s;
}

// Every candidate (feature set x hyperparameters), trained on the fit part and compared by its
// raw scores on the calibration slice; fills rep.candidates and rep.chosen, and scores the best
// of each feature set on the test part (the ablation: reported only, never used for selection
// or calibration). Leaves the chosen model at o.out_path and removes the others.
void search_candidates(const SplitParts<Row>& parts, const TrainScorerOptions& o,
                       TrainScorerReport& rep) {
  const std::vector<TrainHyper> grid = {{5, 0.1, 2, 50}, {10, 0.05, 1, 50}, {20, 0.05, 2, 20}};
  // Every candidate file is kept until the end (the best of each feature set is scored on the
  // test part for the ablation), then all but the chosen one are removed.
  const std::string tmp_base = o.out_path + ".candidate";
  std::vector<std::string> paths;
  std::size_t chosen = 0;
  for (const auto& fname : feature_sets(o)) {
    const auto features = *ml::ScorerFeatures::parse(fname);
    const auto fit_texts = texts(parts.fit, features);
    const auto calib_texts = texts(parts.calibration, features);
    const std::size_t first = rep.candidates.size();
    std::size_t best_of_set = first;
    for (const TrainHyper& h : grid) {
      std::vector<ml::LabeledExample> examples;
      for (std::size_t i = 0; i < parts.fit.size(); ++i) {
        examples.push_back({fit_texts[i], parts.fit[i]->ok ? kPositive : kNegative});
      }
      const ml::TrainSpec spec = train_spec(
          std::move(examples), tmp_base + std::to_string(paths.size()) + ".bin", h, o.threads,
          o.split);
      ml::train_classifier(spec);
      paths.push_back(spec.out_path);
      auto model = ml::FastTextModel::load(spec.out_path);
      rep.candidates.push_back({features.name(), h.epoch, h.lr, h.word_ngrams, h.dim,
                                metrics(parts.calibration, score_with(*model, calib_texts)),
                                std::nullopt});
      const std::size_t i = rep.candidates.size() - 1;
      if (criterion(rep.candidates[i].calibration) >
          criterion(rep.candidates[best_of_set].calibration)) {
        best_of_set = i;
      }
      if (criterion(rep.candidates[i].calibration) >
          criterion(rep.candidates[chosen].calibration)) {
        chosen = i;
      }
    }
    auto model = ml::FastTextModel::load(paths[best_of_set]);
    rep.candidates[best_of_set].test =
        metrics(parts.test, score_with(*model, texts(parts.test, features)));
  }
  rep.chosen = rep.candidates[chosen];
  const std::string best_path = paths[chosen];
  for (const auto& p : paths) {
    if (p != best_path) remove_model(p);
  }
  move_model(best_path, o.out_path);
  rep.model_path = o.out_path;
  rep.metadata_path = ml::metadata_path_for(o.out_path);
}

// Platt scaling of the chosen model on the calibration slice, target: acceptable. Sets
// rep.platt_a and rep.platt_b.
void fit_platt(const std::vector<const Row*>& calib, const TrainScorerOptions& o,
               TrainScorerReport& rep) {
  const auto features = *ml::ScorerFeatures::parse(rep.chosen.features);
  auto model = ml::FastTextModel::load(o.out_path);
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  for (const Row* r : calib) {
    x.push_back({logit(raw_p(*model, ml::scorer_feature_text(r->prompt, r->response, features)))});
    y.push_back(r->ok ? 1 : 0);
  }
  std::vector<double> w = fit_logistic(x, y);
  if (w[0] < 0.0) {
    // A negative slope would invert the model's ranking on a small slice: keep it flat.
    for (auto& xi : x) xi[0] = 0.0;
    w = fit_logistic(x, y);
    w[0] = 0.0;
  }
  rep.platt_a = w[0];
  rep.platt_b = w.back();
}

// The metadata's "scorer" block (what ml::AnswerScorer reads), without the metrics.
json::object scorer_block(const TrainScorerOptions& o, const TrainScorerReport& rep) {
  json::object scorer{
      {"format", "triage-scorer/1"},
      {"positive_label", kPositive},
      {"score", "calibrated P(acceptable), acceptable = " + o.label_column + " >= 0.5"},
      {"features", rep.chosen.features},
      {"prompt_column", o.prompt_column},
      {"response_column", o.response_column},
      {"label_column", o.label_column},
      {"strong_column", rep.strong_column},
      {"calibration", json::object{{"method", "platt"},
                                   {"a", rep.platt_a},
                                   {"b", rep.platt_b},
                                   {"fitted_on", "calibration slice of the train part"}}}};
  append_split_record(scorer, {o.split, o.dataset, rep.data_file_sha256, rep.n_fit,
                               rep.n_calibration, rep.n_test, rep.n_skipped});
  return scorer;
}

// Calibrated metrics through the serving scorer (exactly what the check computes), and the
// metadata's scorer.metrics block with the ablation.
json::object calibrated_metrics(const SplitParts<Row>& parts, const TrainScorerOptions& o,
                                TrainScorerReport& rep) {
  auto loaded = ml::AnswerScorer::load(o.out_path);
  auto score_all = [&](const std::vector<const Row*>& part) {
    std::vector<double> s;
    for (const Row* r : part) s.push_back(loaded->score(r->prompt, r->response));
    return s;
  };
  rep.calibration = metrics(parts.calibration, score_all(parts.calibration));
  rep.test = metrics(parts.test, score_all(parts.test));
  json::array ablation;
  for (const auto& c : rep.candidates) {
    if (!c.test) continue;
    ablation.push_back(json::object{{"features", c.features},
                                    {"epoch", c.epoch},
                                    {"lr", c.lr},
                                    {"calibration_raw", metrics_json(c.calibration)},
                                    {"test_raw", metrics_json(*c.test)}});
  }
  return json::object{{"calibration", metrics_json(rep.calibration)},
                      {"test", metrics_json(rep.test)},
                      {"best_per_feature_set", std::move(ablation)}};
}

}  // namespace

TrainScorerReport train_scorer(const TrainScorerOptions& o) {
  const SteadyTime start = SteadyClock::now();
  TrainScorerReport rep;
  if (o.out_path.empty()) throw ml::ModelError("train cascade-scorer: no output path");
  std::vector<Row> rows = load_rows(o, rep.strong_column, rep.n_skipped);
  rep.n_rows = static_cast<int64_t>(rows.size());
  rep.data_file_sha256 = datasets::file_sha256(o.dataset);
  const SplitParts<Row> parts = split_parts(rows, o.dataset);
  rep.n_fit = static_cast<int64_t>(parts.fit.size());
  rep.n_calibration = static_cast<int64_t>(parts.calibration.size());
  rep.n_test = static_cast<int64_t>(parts.test.size());

  search_candidates(parts, o, rep);
  fit_platt(parts.calibration, o, rep);
  json::object meta = output::read_json_object(rep.metadata_path);
  meta["scorer"] = scorer_block(o, rep);
  output::write_json_object(rep.metadata_path, meta);
  meta["scorer"].as_object()["metrics"] = calibrated_metrics(parts, o, rep);
  output::write_json_object(rep.metadata_path, meta);
  rep.seconds = static_cast<double>(micros_between(start, SteadyClock::now())) / 1e6;
  return rep;
}

void print_train_scorer_report(const TrainScorerReport& r, const TrainScorerOptions& o,
                               std::ostream& out) {
  auto pct = [](const std::optional<double>& v) { return output::pct_or(v, "-"); };
  auto num = [](const std::optional<double>& v) {
    return v ? fmt::format("{:.3f}", *v) : std::string("-");
  };
  auto line = [&](const std::string& what, const ScorerMetrics& m) {
    out << fmt::format("  {:<40} n={:>4} ok {:.3f}  AUC {:.3f}  logloss {:.3f}  ECE {:.3f}  "
                       "APGR {}  CPT50 {}  CPT80 {}\n",
                       what, m.n, m.acceptable_rate, m.auc, m.log_loss, m.ece, num(m.apgr),
                       pct(m.cpt50), pct(m.cpt80));
  };
  out << fmt::format("cascade scorer trained from {} (sha256 {}): P({} >= 0.5 | prompt, {})\n",
                     o.dataset, r.data_file_sha256.substr(0, 16), o.label_column,
                     o.response_column);
  out << fmt::format("rows: {} usable, {} skipped (missing cell); split by fnv1a64(\"{}:<{}>\") "
                     "% 10000: fit {}, calibration {}, test {}; escalation grades: {}\n",
                     r.n_rows, r.n_skipped, o.split.seed, o.split.key_column, r.n_fit,
                     r.n_calibration, r.n_test,
                     r.strong_column.empty() ? "none (selection by AUC)" : r.strong_column);
  out << "candidates (trained on fit; raw fastText P on the calibration slice):\n";
  for (const auto& c : r.candidates) {
    line(fmt::format("{} e{} lr{} ng{} d{}", c.features, c.epoch, c.lr, c.word_ngrams, c.dim),
         c.calibration);
  }
  out << "ablation, best candidate of each feature set on the TEST part (reported only):\n";
  for (const auto& c : r.candidates) {
    if (c.test) line(c.features, *c.test);
  }
  out << fmt::format("chosen: {} epoch {} lr {} ngrams {} dim {}; Platt a={:.3f} b={:.3f}\n",
                     r.chosen.features, r.chosen.epoch, r.chosen.lr, r.chosen.word_ngrams,
                     r.chosen.dim, r.platt_a, r.platt_b);
  line("calibration slice (calibrated):", r.calibration);
  line("TEST (held out, calibrated):", r.test);
  out << fmt::format("wrote {} and {} ({:.1f} s)\n", r.model_path, r.metadata_path, r.seconds);
}

int run_train_scorer(const TrainScorerOptions& options) {
  return run_train_command("cascade-scorer", options, train_scorer, print_train_scorer_report);
}

}  // namespace triage::train

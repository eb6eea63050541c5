#include "train/train_router.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "common/clock.h"
#include "common/csv.h"
#include "ml/fasttext_model.h"
#include "ml/model_metadata.h"
#include "train/cross_fit.h"
#include "output/output_format.h"
#include "ml/pair_metrics.h"
#include "train/train_common.h"
#include "train/train_gain_router.h"
#include "ml/threshold_scorer.h"

namespace triage::train {

namespace {

namespace json = boost::json;

struct Row {
  std::string key;
  std::string prompt;
  std::string category;
  double weak = 0.0;
  double strong = 0.0;
  datasets::SplitPart part = datasets::SplitPart::kFit;
  bool needed() const { return strong > weak; }
};

std::vector<Row> load_rows(const std::string& path, const datasets::SplitRule& split, int64_t& skipped) {
  CsvTable t = read_csv_file(path);
  auto need = [&](const char* name) {
    auto c = t.column(name);
    if (!c) {
      throw ml::ModelError(path + ": no column '" + name +
                           "' (a RouteLLM-format pair dataset "
                           "needs prompt, weak_correct, strong_correct; columns: " +
                           t.columns_list() + ")");
    }
    return *c;
  };
  const auto prompt = need("prompt");
  const auto weak = need("weak_correct");
  const auto strong = need("strong_correct");
  auto key = t.column(split.key_column);
  const auto category = datasets::category_column(t);
  std::vector<Row> rows;
  skipped = 0;
  for (const auto& r : t.rows) {
    auto w = datasets::parse_number_cell(r[weak]);
    auto s = datasets::parse_number_cell(r[strong]);
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

SubsetMetrics metrics(const std::vector<const Row*>& rows, const std::vector<double>& scores,
                      bool probabilities = true) {
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
  const ml::ScoreCurve curve = ml::score_pgr_curve(scores, weak, strong, /*high_goes_strong=*/true);
  m.weak_quality = curve.weak_quality;
  m.strong_quality = curve.strong_quality;
  m.apgr = ml::apgr(curve.points);
  m.cpt50 = ml::cpt(curve.points, 0.5);
  m.cpt80 = ml::cpt(curve.points, 0.8);
  double brier = 0.0, pos = 0.0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double y = needed[i];
    brier += (scores[i] - y) * (scores[i] - y);
    pos += y;
  }
  const double n = static_cast<double>(rows.size());
  if (probabilities) {
    m.ece = binned_ece(scores, needed);
    m.brier = brier / n;
  }
  m.positive_rate = pos / n;
  return m;
}

std::vector<ml::LabeledExample> examples(const std::vector<const Row*>& rows,
                                         const std::string& label, bool use_category) {
  std::vector<ml::LabeledExample> out;
  out.reserve(rows.size());
  for (const Row* r : rows) {
    const bool pos = label == "weak_fails" ? r->weak < 0.5 : r->needed();
    out.push_back({ml::router_feature_text(r->prompt, r->category, use_category),
                   pos ? "strong" : "weak"});
  }
  return out;
}

json::object metrics_json(const SubsetMetrics& m) {
  return json::object{{"n", m.n},
                      {"weak_quality", m.weak_quality},
                      {"strong_quality", m.strong_quality},
                      {"apgr", m.apgr},
                      {"cpt50", output::json_or_null(m.cpt50)},
                      {"cpt80", output::json_or_null(m.cpt80)},
                      {"ece", output::json_or_null(m.ece)},
                      {"brier", output::json_or_null(m.brier)},
                      {"positive_rate", m.positive_rate}};
}

}  // namespace

namespace {

// One candidate's out-of-fold inputs to the stacker and its fit.
struct Stacked {
  std::vector<std::vector<double>> x;  // per train row: {logit p} or {logit p, logit rate}
  std::vector<double> w;               // {a, b} or {a, c, b}
  std::vector<double> scores;          // stacked P(strong needed) per train row
};

// Fits the stacker of "strong needed" on x. A negative slope on the fastText input would invert
// the model's ranking on the strength of noise: the model has no usable signal there, so its
// input is dropped instead (reported as a = 0).
Stacked stack(std::vector<std::vector<double>> x, const std::vector<int>& y) {
  Stacked s;
  s.x = std::move(x);
  s.w = fit_logistic(s.x, y);
  if (s.w[0] < 0.0) {
    auto flat = s.x;
    for (auto& xi : flat) xi[0] = 0.0;
    s.w = fit_logistic(flat, y);
    s.w[0] = 0.0;
  }
  for (const auto& xi : s.x) {
    double z = s.w.back();
    for (std::size_t k = 0; k < xi.size(); ++k) z += s.w[k] * xi[k];
    s.scores.push_back(1 / (1 + std::exp(-z)));
  }
  return s;
}

}  // namespace

namespace {

void check_options(const TrainRouterOptions& o) {
  if (o.out_path.empty()) throw ml::ModelError("train router: no output path");
  if (o.folds < 2 || o.folds > 16) throw ml::ModelError("train router: --folds must be 2..16");
  if (o.scorer == "gain" && o.folds < 3) {
    throw ml::ModelError("train router: --scorer gain needs --folds 3 or more (its nested "
                         "estimate excludes two folds at a time)");
  }
  if (o.category_smoothing.empty()) {
    throw ml::ModelError("train router: no category smoothing candidate");
  }
  for (double k : o.category_smoothing) {
    if (!(k >= 0.0)) throw ml::ModelError("train router: category smoothing must be >= 0");
  }
  const bool version_ok =
      o.version.size() <= 64 && std::all_of(o.version.begin(), o.version.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
      });
  if (!version_ok) {
    throw ml::ModelError("train router: --version must be up to 64 letters, digits, '.', '_' "
                         "or '-', got '" + o.version + "'");
  }
  if (o.scorer != "auto" && o.scorer != "stack" && o.scorer != "gain") {
    throw ml::ModelError("train router: --scorer must be auto, stack or gain, got '" + o.scorer +
                         "'");
  }
}

// Protocol step 1: the train part (cross-fitted, with each row's fold and label) and the
// held-out test part. Pointers into the caller's rows.
struct Parts {
  std::vector<const Row*> train, test;
  std::vector<int> fold;             // per train row
  std::vector<int> y;                // per train row: strong needed (0/1)
  std::vector<double> needed;        // y as doubles
  std::vector<std::string> cats;     // per train row
};

Parts split_train_test(const std::vector<Row>& rows, const datasets::SplitRule& split,
                       const TrainRouterOptions& o) {
  Parts p;
  for (const Row& r : rows) (r.part == datasets::SplitPart::kTest ? p.test : p.train).push_back(&r);
  if (p.test.empty() || p.train.size() < static_cast<std::size_t>(o.folds)) {
    throw ml::ModelError(o.dataset + ": too few rows for a train/test split with " +
                         std::to_string(o.folds) + " folds (" + std::to_string(rows.size()) +
                         " usable rows)");
  }
  const std::size_t n = p.train.size();
  p.fold.resize(n);
  p.y.resize(n);
  p.needed.resize(n);
  p.cats.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    p.fold[i] = fold_of(p.train[i]->key, split.seed, o.folds);
    p.y[i] = p.train[i]->needed() ? 1 : 0;
    p.needed[i] = p.y[i];
    p.cats[i] = p.train[i]->category;
  }
  for (int f = 0; f < o.folds; ++f) {
    if (std::find(p.fold.begin(), p.fold.end(), f) == p.fold.end()) {
      throw ml::ModelError(o.dataset + ": fold " + std::to_string(f) + " of " +
                           std::to_string(o.folds) + " is empty; use fewer --folds");
    }
  }
  return p;
}

// Protocol step 2: what the candidates vary over.
struct CandidateSpace {
  std::vector<std::string> labels;
  std::string features;
  bool use_category = false;  // the category token in front of the fastText text
  bool stack_rates = false;   // the category's rate as a second stacker input
  std::vector<TrainHyper> grid;
  std::vector<double> smoothings;
  std::vector<std::vector<double>> oof_rates;  // per smoothing: out-of-fold rate per train row
};

CandidateSpace candidate_space(const Parts& p, bool has_category, const TrainRouterOptions& o) {
  CandidateSpace c;
  c.labels = {"strong_needed", "weak_fails"};
  if (o.label != "auto") c.labels = {o.label};
  c.features = has_category ? "category+prompt" : "prompt";
  if (o.features != "auto") c.features = o.features;
  c.use_category = c.features == "category+prompt";
  c.stack_rates = has_category && o.category_rates;
  // A small grid: the data are small and the labels noisy, so few epochs / low rates win.
  c.grid = {{5, 0.1, 2, 50}, {10, 0.2, 1, 20}};
  c.smoothings = o.category_smoothing;
  if (!c.stack_rates) c.smoothings = {0.0};
  // Out-of-fold category rates per smoothing (independent of the candidate).
  for (double k : c.smoothings) {
    c.oof_rates.push_back(c.stack_rates
                              ? out_of_fold_category_rates(p.cats, p.needed, p.fold, o.folds, k)
                              : std::vector<double>());
  }
  return c;
}

// fastText's out-of-fold P(strong) of every train row: per fold, a model trained on the other
// folds (written to `tmp`, then removed).
std::vector<double> out_of_fold_probabilities(const Parts& p, const std::string& label,
                                              const TrainHyper& h, bool use_category,
                                              const std::string& tmp,
                                              const datasets::SplitRule& split,
                                              const TrainRouterOptions& o) {
  std::vector<double> oof(p.train.size(), 0.0);
  for (int f = 0; f < o.folds; ++f) {
    std::vector<const Row*> in;
    for (std::size_t i = 0; i < p.train.size(); ++i) {
      if (p.fold[i] != f) in.push_back(p.train[i]);
    }
    ml::train_classifier(train_spec(examples(in, label, use_category), tmp, h, o.threads, split));
    auto model = ml::FastTextModel::load(tmp);
    for (std::size_t i = 0; i < p.train.size(); ++i) {
      if (p.fold[i] != f) continue;
      oof[i] = ml::label_probability(
          *model, ml::router_feature_text(p.train[i]->prompt, p.train[i]->category, use_category),
          "strong", 0.5);
    }
    remove_model(tmp);
  }
  return oof;
}

// Every candidate, compared by the APGR of its stacked out-of-fold scores over the train part:
// fills rep.candidates and rep.chosen; returns the chosen candidate's stacker.
Stacked search_candidates(const Parts& p, const CandidateSpace& c,
                          const datasets::SplitRule& split, const TrainRouterOptions& o,
                          TrainRouterReport& rep) {
  const std::string tmp = o.out_path + ".fold.bin";
  Stacked best;
  double best_apgr = -1e9;
  for (const auto& label : c.labels) {
    for (const TrainHyper& h : c.grid) {
      const std::vector<double> oof =
          out_of_fold_probabilities(p, label, h, c.use_category, tmp, split, o);
      for (std::size_t s = 0; s < c.smoothings.size(); ++s) {
        std::vector<std::vector<double>> x;
        for (std::size_t i = 0; i < p.train.size(); ++i) {
          x.push_back(c.stack_rates ? std::vector<double>{logit(oof[i]), logit(c.oof_rates[s][i])}
                                    : std::vector<double>{logit(oof[i])});
        }
        Stacked st = stack(std::move(x), p.y);
        CandidateResult r{label,         c.features, h.epoch,         h.lr,
                          h.word_ngrams, h.dim,      c.smoothings[s], metrics(p.train, st.scores).apgr};
        rep.candidates.push_back(r);
        if (r.cv_apgr > best_apgr) {
          best_apgr = r.cv_apgr;
          best = std::move(st);
          rep.chosen = r;
        }
      }
    }
  }
  return best;
}

// Protocol step 3: the chosen candidate's fastText model retrained on the whole train part
// (written to o.out_path with its ml metadata), and its stacker.
void train_served_model(const Parts& p, const CandidateSpace& c, const Stacked& best,
                        const datasets::SplitRule& split, const TrainRouterOptions& o,
                        TrainRouterReport& rep) {
  const TrainHyper chosen{rep.chosen.epoch, rep.chosen.lr, rep.chosen.word_ngrams, rep.chosen.dim};
  ml::train_classifier(train_spec(examples(p.train, rep.chosen.label, c.use_category), o.out_path,
                                  chosen, o.threads, split));
  rep.model_path = o.out_path;
  rep.metadata_path = ml::metadata_path_for(o.out_path);
  rep.platt_a = best.w[0];
  rep.platt_b = best.w.back();
  rep.category_weight = c.stack_rates ? best.w[1] : 0.0;
  rep.cross_validation = metrics(p.train, best.scores);
}

// The gain router, trained on the same train part and folds (when --scorer allows it).
struct GainCandidate {
  std::optional<GainTrainResult> result;
  std::vector<GainTrainRow> rows;
};

GainCandidate train_gain_candidate(const Parts& p, const TrainRouterOptions& o,
                                   TrainRouterReport& rep) {
  GainCandidate g;
  if (o.scorer == "gain" || (o.scorer == "auto" && o.folds >= 3)) {
    for (std::size_t i = 0; i < p.train.size(); ++i) {
      const Row& r = *p.train[i];
      g.rows.push_back({r.prompt, r.category, r.weak, r.strong, p.fold[i]});
    }
    g.result = train_gain_router(g.rows, o.folds);
    rep.gain_cross_validation = metrics(p.train, g.result->cv_scores, /*probabilities=*/false);
  }
  return g;
}

// The metadata's "router" block (what ml::ThresholdScorer reads), without the metrics; with
// the gain scorer, also writes its reference rows next to the model.
json::object router_block(const Parts& p, const CandidateSpace& c, const Stacked& best,
                          const GainCandidate& gain, bool use_gain,
                          const datasets::SplitRule& split, const TrainRouterOptions& o,
                          TrainRouterReport& rep) {
  const std::string refs_path = o.out_path + ".refs.jsonl";
  std::filesystem::remove(refs_path);  // a stale file from an earlier gain training
  json::array validation_scores;
  for (double v : use_gain ? gain.result->cv_scores : best.scores) validation_scores.emplace_back(v);
  json::object router{
      {"format", "triage-router/1"},
      {"positive_label", "strong"},
      {"score", "calibrated P(strong needed), strong needed = strong_correct > weak_correct"},
      {"features", rep.chosen.features},
      {"training_label", rep.chosen.label},
      {"calibration",
       json::object{{"method", c.stack_rates ? "logistic(logit p, logit category rate)" : "platt"},
                    {"a", rep.platt_a},
                    {"b", rep.platt_b},
                    {"c", rep.category_weight},
                    {"fitted_on", "out-of-fold scores of the train part"}}},
      {"cross_fit", json::object{{"folds", o.folds},
                                 {"fold_rule", "fnv1a64(\"fold:<seed>:<key>\") % folds"},
                                 {"category_smoothing", rep.chosen.smoothing}}},
      // Out-of-fold stacked scores of the train part: what strong_share calibrates on.
      {"validation_scores", std::move(validation_scores)}};
  append_split_record(
      router, {split, o.dataset, rep.data_file_sha256, rep.n_train, 0, rep.n_test, rep.n_skipped});
  if (c.stack_rates) {
    const CategoryRates rates = category_rates(p.cats, p.needed, rep.chosen.smoothing);
    json::object r;
    for (const auto& [cat, v] : rates.rates) r[cat] = v;
    router["category_rates"] = std::move(r);
    router["category_prior"] = rates.prior;
  }
  if (use_gain) {
    write_gain_references(refs_path, gain.rows);
    rep.references_path = refs_path;
    router["score"] = "P(strong right) - P(weak right) (router.gain)";
    router["gain"] =
        gain_metadata(*gain.result, std::filesystem::path(refs_path).filename().string(),
                      datasets::file_sha256(refs_path), gain.rows.size());
  }
  router["scorer"] = rep.scorer;
  router["version"] = rep.version;  // docs/loop.md
  return router;
}

// Protocol step 4: held-out metrics through the serving scorer (all test rows, without
// o.exclude_subject, and the prompts the train part does not also hold).
void held_out_metrics(const Parts& p, bool use_gain, const TrainRouterOptions& o,
                      TrainRouterReport& rep) {
  auto scorer = ml::ThresholdScorer::load(o.out_path);
  auto score_all = [&](const std::vector<const Row*>& part) {
    std::vector<double> s;
    for (const Row* r : part) s.push_back(scorer->score(r->prompt, r->category));
    return s;
  };
  rep.test = metrics(p.test, score_all(p.test), !use_gain);
  if (const ml::GainRouter* g = scorer->gain()) {
    std::vector<double> ps, pw, ys, yw;
    for (const Row* r : p.test) {
      const auto [s, w] = g->probabilities(r->prompt, r->category);
      ps.push_back(s);
      pw.push_back(w);
      ys.push_back(r->strong);
      yw.push_back(r->weak);
    }
    rep.test_ece_strong = binned_ece(ps, ys);
    rep.test_ece_weak = binned_ece(pw, yw);
  }
  std::vector<const Row*> kept;
  for (const Row* r : p.test) {
    if (r->category != o.exclude_subject) kept.push_back(r);
  }
  if (!o.exclude_subject.empty() && kept.size() != p.test.size()) {
    rep.test_without_excluded = metrics(kept, score_all(kept), !use_gain);
  }
  std::set<std::string_view> train_prompts;
  for (const Row* r : p.train) train_prompts.insert(r->prompt);
  std::vector<const Row*> unseen;
  for (const Row* r : p.test) {
    if (!train_prompts.count(r->prompt)) unseen.push_back(r);
  }
  if (unseen.size() != p.test.size()) {
    rep.test_unseen = metrics(unseen, score_all(unseen), !use_gain);
  }
}

// The metadata's router.metrics block.
json::object metrics_block(const TrainRouterReport& rep, bool use_gain,
                           const TrainRouterOptions& o) {
  auto optional_json = [](const std::optional<SubsetMetrics>& m) {
    return m ? json::value(metrics_json(*m)) : json::value(nullptr);
  };
  return json::object{
      {"cross_validation",
       metrics_json(use_gain ? *rep.gain_cross_validation : rep.cross_validation)},
      {"cross_validation_stack", metrics_json(rep.cross_validation)},
      {"cross_validation_gain", optional_json(rep.gain_cross_validation)},
      {"test", metrics_json(rep.test)},
      {"test_unseen_prompts", optional_json(rep.test_unseen)},
      {"test_ece_p_strong_right", output::json_or_null(rep.test_ece_strong)},
      {"test_ece_p_weak_right", output::json_or_null(rep.test_ece_weak)},
      {"test_without_" + o.exclude_subject, optional_json(rep.test_without_excluded)}};
}

}  // namespace

TrainRouterReport train_router(const TrainRouterOptions& o) {
  const SteadyTime start = SteadyClock::now();
  TrainRouterReport rep;
  check_options(o);
  datasets::SplitRule split = o.split;
  split.calib_below = split.test_below;  // no calibration slice: the train part is cross-fitted
  const std::vector<Row> rows = load_rows(o.dataset, split, rep.n_skipped);
  rep.n_rows = static_cast<int64_t>(rows.size());
  rep.data_file_sha256 = datasets::file_sha256(o.dataset);
  rep.version = o.version.empty() ? ml::default_router_version(rep.data_file_sha256) : o.version;
  bool has_category = false;
  for (const Row& r : rows) has_category = has_category || !r.category.empty();
  const Parts parts = split_train_test(rows, split, o);
  rep.n_train = static_cast<int64_t>(parts.train.size());
  rep.n_test = static_cast<int64_t>(parts.test.size());
  rep.folds = o.folds;

  const CandidateSpace space = candidate_space(parts, has_category, o);
  const Stacked best = search_candidates(parts, space, split, o, rep);
  train_served_model(parts, space, best, split, o, rep);
  const GainCandidate gain = train_gain_candidate(parts, o, rep);
  const bool use_gain = gain.result && (o.scorer == "gain" || rep.gain_cross_validation->apgr >
                                                                  rep.cross_validation.apgr);
  rep.scorer = use_gain ? "gain" : "stack";

  // Metadata: the ml block as written by train_classifier, plus the router block; the metrics
  // are added once measured through the serving scorer, which reads the block.
  json::object meta = output::read_json_object(rep.metadata_path);
  meta["router"] = router_block(parts, space, best, gain, use_gain, split, o, rep);
  output::write_json_object(rep.metadata_path, meta);
  held_out_metrics(parts, use_gain, o, rep);
  rep.seconds = static_cast<double>(micros_between(start, SteadyClock::now())) / 1e6;
  meta["router"].as_object()["metrics"] = metrics_block(rep, use_gain, o);
  output::write_json_object(rep.metadata_path, meta);
  return rep;
}

void print_train_router_report(const TrainRouterReport& r, const TrainRouterOptions& o,
                               std::ostream& out) {
  auto pct = [](const std::optional<double>& v) { return output::pct_or(v, "never"); };
  out << fmt::format("router trained from {} (sha256 {})\n", o.dataset,
                     r.data_file_sha256.substr(0, 16));
  out << fmt::format(
      "rows: {} usable, {} skipped (missing prompt or grade); split by "
      "fnv1a64(\"{}:<{}>\") % 10000: train {} ({} folds), test {}\n",
      r.n_rows, r.n_skipped, o.split.seed, o.split.key_column, r.n_train, r.folds, r.n_test);
  out << "candidates (out-of-fold APGR over the train part):\n";
  for (const auto& c : r.candidates) {
    out << fmt::format(
        "  {:<14} {:<16} epoch {:>2} lr {:<5} ngrams {} dim {:>2} smoothing {:>4}  APGR {:.4f}\n",
        c.label, c.features, c.epoch, c.lr, c.word_ngrams, c.dim, c.smoothing, c.cv_apgr);
  }
  out << fmt::format(
      "chosen: label {}, features {}, epoch {}, lr {}, smoothing {}; stacker "
      "a={:.3f} b={:.3f} c(category rate)={:.3f}\n",
      r.chosen.label, r.chosen.features, r.chosen.epoch, r.chosen.lr, r.chosen.smoothing, r.platt_a,
      r.platt_b, r.category_weight);
  auto line = [&](const char* what, const SubsetMetrics& m) {
    out << fmt::format(
        "{:<34} n={:>5}  weak {:.3f} strong {:.3f}  APGR {:.3f}  CPT50 {:>6}  CPT80 {:>6}  "
        "ECE {}\n",
        what, m.n, m.weak_quality, m.strong_quality, m.apgr, pct(m.cpt50), pct(m.cpt80),
        m.ece ? fmt::format("{:.3f}", *m.ece) : std::string("n/a"));
  };
  line("cross-validation, stack:", r.cross_validation);
  if (r.gain_cross_validation) line("cross-validation, gain (nested):", *r.gain_cross_validation);
  out << fmt::format("served scorer: {} (--scorer {})\n", r.scorer, o.scorer);
  line("TEST (held out):", r.test);
  if (r.test_without_excluded) {
    line(("TEST without " + o.exclude_subject + ":").c_str(), *r.test_without_excluded);
  }
  if (r.test_unseen) line("TEST, prompts not in the train part:", *r.test_unseen);
  if (r.test_ece_strong && r.test_ece_weak) {
    out << fmt::format("gain calibration on TEST: ECE P(strong right) {:.3f}, P(weak right) {:.3f}\n",
                       *r.test_ece_strong, *r.test_ece_weak);
  }
  out << fmt::format("version: {}\n", r.version);
  out << fmt::format("wrote {} and {} ({:.1f} s)\n", r.model_path, r.metadata_path, r.seconds);
}

int run_train_router(const TrainRouterOptions& options) {
  return run_train_command("router", options, train_router, print_train_router_report);
}

}  // namespace triage::train

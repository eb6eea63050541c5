#include "offline/train_router.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "common/clock.h"
#include "common/csv.h"
#include "ml/fasttext_model.h"
#include "offline/pair_metrics.h"
#include "routes/threshold_route.h"

namespace triage::offline {

namespace {

namespace fs = std::filesystem;
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
  auto category = t.column("subject");
  if (!category) category = t.column("category");
  std::vector<Row> rows;
  skipped = 0;
  for (const auto& r : t.rows) {
    auto w = parse_grade_cell(r[weak]);
    auto s = parse_grade_cell(r[strong]);
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

// Exact PGR curve of a scorer: rows sorted by score, sent strong from the top; one point per
// distinct score (ties move together, as a threshold would move them).
std::vector<PgrPoint> score_curve(const std::vector<const Row*>& rows,
                                  const std::vector<double>& scores, double& weak_q,
                                  double& strong_q) {
  const double n = static_cast<double>(rows.size());
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  weak_q = 0.0;
  strong_q = 0.0;
  for (const Row* r : rows) {
    weak_q += r->weak;
    strong_q += r->strong;
  }
  weak_q /= n;
  strong_q /= n;
  std::vector<PgrPoint> pts{{0.0, 0.0}};
  double q = weak_q * n;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Row* r = rows[order[i]];
    q += r->strong - r->weak;
    if (i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]]) {
      pts.push_back({static_cast<double>(i + 1) / n, pgr(q / n, weak_q, strong_q)});
    }
  }
  return pts;
}

SubsetMetrics metrics(const std::vector<const Row*>& rows, const std::vector<double>& scores) {
  SubsetMetrics m;
  m.n = static_cast<int64_t>(rows.size());
  if (rows.empty()) return m;
  auto curve = score_curve(rows, scores, m.weak_quality, m.strong_quality);
  m.apgr = apgr(curve);
  m.cpt50 = cpt(curve, 0.5);
  m.cpt80 = cpt(curve, 0.8);
  constexpr int kBins = 10;
  std::vector<double> sum_p(kBins), sum_y(kBins);
  std::vector<int64_t> count(kBins);
  double brier = 0.0, pos = 0.0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const double y = rows[i]->needed() ? 1.0 : 0.0;
    const int b = std::min(kBins - 1, static_cast<int>(scores[i] * kBins));
    sum_p[b] += scores[i];
    sum_y[b] += y;
    ++count[b];
    brier += (scores[i] - y) * (scores[i] - y);
    pos += y;
  }
  const double n = static_cast<double>(rows.size());
  for (int b = 0; b < kBins; ++b) {
    if (count[b] > 0) m.ece += std::abs(sum_p[b] - sum_y[b]) / n;
  }
  m.brier = brier / n;
  m.positive_rate = pos / n;
  return m;
}

double logit(double p) {
  p = std::clamp(p, 1e-6, 1 - 1e-6);
  return std::log(p / (1 - p));
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

void move_model(const std::string& from, const std::string& to) {
  fs::rename(from, to);
  fs::rename(ml::metadata_path_for(from), ml::metadata_path_for(to));
}

json::object metrics_json(const SubsetMetrics& m) {
  auto opt = [](const std::optional<double>& v) -> json::value {
    return v ? json::value(*v) : json::value(nullptr);
  };
  return json::object{{"n", m.n},
                      {"weak_quality", m.weak_quality},
                      {"strong_quality", m.strong_quality},
                      {"apgr", m.apgr},
                      {"cpt50", opt(m.cpt50)},
                      {"cpt80", opt(m.cpt80)},
                      {"ece", m.ece},
                      {"brier", m.brier},
                      {"positive_rate", m.positive_rate}};
}

struct Hyper {
  int epoch;
  double lr;
  int word_ngrams;
  int dim;
};

}  // namespace

std::optional<double> parse_grade_cell(const CsvCell& cell) {
  if (!cell) return std::nullopt;
  std::string_view s = *cell;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s == "True" || s == "true") return 1.0;
  if (s == "False" || s == "false") return 0.0;
  double v = 0.0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x,
                                 const std::vector<int>& y) {
  const std::size_t d = x.empty() ? 1 : x[0].size() + 1;
  double n_pos = 0, n_neg = 0;
  for (int v : y) (v ? n_pos : n_neg) += 1;
  const double t_pos = (n_pos + 1) / (n_pos + 2), t_neg = 1 / (n_neg + 2);
  std::vector<double> w(d, 0.0);
  w[0] = 1.0;
  for (int it = 0; it < 100; ++it) {
    std::vector<double> g(d, 0.0);
    std::vector<std::vector<double>> h(d, std::vector<double>(d, 0.0));
    for (std::size_t k = 0; k < d; ++k) h[k][k] = 1e-6;
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::vector<double> xi = x[i];
      xi.push_back(1.0);
      double z = 0;
      for (std::size_t k = 0; k < d; ++k) z += w[k] * xi[k];
      const double p = 1 / (1 + std::exp(-z));
      const double diff = p - (y[i] ? t_pos : t_neg), wt = p * (1 - p);
      for (std::size_t k = 0; k < d; ++k) {
        g[k] += diff * xi[k];
        for (std::size_t l = 0; l < d; ++l) h[k][l] += wt * xi[k] * xi[l];
      }
    }
    // Solve h * step = g (Gaussian elimination; d is 2 or 3).
    for (std::size_t c = 0; c < d; ++c) {
      std::size_t piv = c;
      for (std::size_t r = c + 1; r < d; ++r)
        if (std::abs(h[r][c]) > std::abs(h[piv][c])) piv = r;
      std::swap(h[c], h[piv]);
      std::swap(g[c], g[piv]);
      if (std::abs(h[c][c]) < 1e-15) return w;
      for (std::size_t r = 0; r < d; ++r) {
        if (r == c) continue;
        const double f = h[r][c] / h[c][c];
        for (std::size_t k = c; k < d; ++k) h[r][k] -= f * h[c][k];
        g[r] -= f * g[c];
      }
    }
    double moved = 0;
    for (std::size_t k = 0; k < d; ++k) {
      const double step = g[k] / h[k][k];
      w[k] -= step;
      moved += std::abs(step);
    }
    if (moved < 1e-10) break;
  }
  return w;
}

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ml::ModelError("cannot read " + path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    EVP_DigestUpdate(ctx, buf, static_cast<std::size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

TrainRouterReport train_router(const TrainRouterOptions& o) {
  const SteadyTime start = SteadyClock::now();
  TrainRouterReport rep;
  if (o.out_path.empty()) throw ml::ModelError("train router: no output path");
  std::vector<Row> rows = load_rows(o.dataset, o.split, rep.n_skipped);
  rep.n_rows = static_cast<int64_t>(rows.size());
  rep.data_file_sha256 = file_sha256(o.dataset);
  std::vector<const Row*> fit, calib, test;
  bool has_category = false;
  for (const Row& r : rows) {
    has_category = has_category || !r.category.empty();
    (r.part == SplitPart::kTest ? test : r.part == SplitPart::kCalibration ? calib : fit)
        .push_back(&r);
  }
  rep.n_fit = static_cast<int64_t>(fit.size());
  rep.n_calibration = static_cast<int64_t>(calib.size());
  rep.n_test = static_cast<int64_t>(test.size());
  if (fit.empty() || calib.empty() || test.empty()) {
    throw ml::ModelError(o.dataset + ": too few rows for a fit/calibration/test split (" +
                         std::to_string(rows.size()) + " usable rows)");
  }

  std::vector<std::string> labels = {"strong_needed", "weak_fails"};
  if (o.label != "auto") labels = {o.label};
  std::vector<std::string> feature_sets = {"prompt"};
  if (has_category) feature_sets.push_back("category+prompt");
  if (o.features != "auto") feature_sets = {o.features};
  // A small grid: the data are small and the labels noisy, so few epochs / low rates win.
  const std::vector<Hyper> grid = {{5, 0.1, 2, 50}, {10, 0.05, 1, 50}, {20, 0.05, 2, 20}};

  const std::string tmp_base = o.out_path + ".candidate";
  std::string best_path;
  double best_apgr = -1e9;
  int idx = 0;
  for (const auto& label : labels) {
    for (const auto& feats : feature_sets) {
      const bool use_cat = feats == "category+prompt";
      for (const Hyper& h : grid) {
        ml::TrainSpec spec;
        spec.train = examples(fit, label, use_cat);
        spec.out_path = tmp_base + std::to_string(idx++) + ".bin";
        spec.epoch = h.epoch;
        spec.lr = h.lr;
        spec.word_ngrams = h.word_ngrams;
        spec.dim = h.dim;
        spec.threads = o.threads;
        spec.seed = static_cast<int>(o.split.seed % 1000003);
        ml::train_classifier(spec);
        auto model = ml::FastTextModel::load(spec.out_path);
        std::vector<double> scores;
        for (const Row* r : calib) {
          const auto text = routes::router_feature_text(r->prompt, r->category, use_cat);
          double p = 0.0;
          for (const auto& pr : model->predict(text, 2)) {
            if (pr.label == "strong") p = pr.probability;
          }
          scores.push_back(p);
        }
        CandidateResult c{label, feats, h.epoch, h.lr, h.word_ngrams, h.dim,
                          metrics(calib, scores).apgr};
        rep.candidates.push_back(c);
        if (c.calibration_apgr > best_apgr) {
          if (!best_path.empty()) {
            fs::remove(best_path);
            fs::remove(ml::metadata_path_for(best_path));
          }
          best_apgr = c.calibration_apgr;
          best_path = spec.out_path;
          rep.chosen = c;
        } else {
          fs::remove(spec.out_path);
          fs::remove(ml::metadata_path_for(spec.out_path));
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
    double p = 0.0;
    for (const auto& pr :
         model->predict(routes::router_feature_text(r->prompt, r->category, use_cat), 2)) {
      if (pr.label == "strong") p = pr.probability;
    }
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
  json::object meta;
  {
    std::ifstream in(rep.metadata_path);
    std::stringstream buf;
    buf << in.rdbuf();
    meta = json::parse(buf.str()).as_object();
  }
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
      {"validation_scores", std::move(validation_scores)},
      {"split", o.split.to_json()},
      {"dataset", o.dataset},
      {"data_file_sha256", rep.data_file_sha256},
      {"n_fit", rep.n_fit},
      {"n_calibration", rep.n_calibration},
      {"n_test", rep.n_test},
      {"n_skipped", rep.n_skipped}};
  if (stack) {
    json::object r;
    for (const auto& [cat, v] : rates) r[cat] = v;
    router["category_rates"] = std::move(r);
    router["category_prior"] = prior;
  }
  meta["router"] = std::move(router);
  {
    std::ofstream out(rep.metadata_path, std::ios::trunc);
    out << json::serialize(meta) << "\n";
    if (!out) throw ml::ModelError("cannot write " + rep.metadata_path);
  }

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
  std::ofstream out(rep.metadata_path, std::ios::trunc);
  out << json::serialize(meta) << "\n";
  if (!out) throw ml::ModelError("cannot write " + rep.metadata_path);
  return rep;
}

void print_train_router_report(const TrainRouterReport& r, const TrainRouterOptions& o,
                               std::ostream& out) {
  auto pct = [](const std::optional<double>& v) {
    return v ? fmt::format("{:.1f}%", *v * 100) : std::string("never");
  };
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
  try {
    auto rep = train_router(options);
    print_train_router_report(rep, options, std::cout);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "triage train router: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace triage::offline

#include "offline/train_multi_router.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>

#include "common/clock.h"
#include "common/csv.h"
#include "ml/fasttext_model.h"
#include "offline/train_router.h"
#include "routes/multi_route.h"

namespace triage::offline {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kScoreSuffix = "|score";

std::optional<double> parse_grade(const CsvCell& cell) {
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

struct Row {
  std::string text;  // multi_feature_text(prompt)
  std::string prompt;
  SplitPart part = SplitPart::kFit;
  std::vector<std::optional<int>> correct;  // per model; nullopt = missing cell
};

double logit(double p) {
  p = std::clamp(p, 1e-6, 1 - 1e-6);
  return std::log(p / (1 - p));
}

// Logistic regression (weights for x, then the bias) by Newton's method with a small ridge on
// the weights, on Platt's smoothed targets. d <= 3.
std::vector<double> fit_logistic(const std::vector<std::vector<double>>& x,
                                 const std::vector<int>& y, std::size_t features) {
  const std::size_t d = features + 1;
  double n_pos = 0, n_neg = 0;
  for (int v : y) (v ? n_pos : n_neg) += 1;
  const double t_pos = (n_pos + 1) / (n_pos + 2), t_neg = 1 / (n_neg + 2);
  std::vector<double> w(d, 0.0);
  for (int it = 0; it < 100; ++it) {
    std::vector<double> g(d, 0.0);
    std::vector<std::vector<double>> h(d, std::vector<double>(d, 0.0));
    for (std::size_t k = 0; k + 1 < d; ++k) {
      h[k][k] = 1e-3;
      g[k] = 1e-3 * w[k];
    }
    h[d - 1][d - 1] = 1e-9;
    for (std::size_t i = 0; i < x.size(); ++i) {
      std::vector<double> xi(x[i].begin(), x[i].begin() + static_cast<std::ptrdiff_t>(features));
      xi.push_back(1.0);
      double z = 0;
      for (std::size_t k = 0; k < d; ++k) z += w[k] * xi[k];
      const double p = 1 / (1 + std::exp(-z));
      const double diff = p - (y[i] ? t_pos : t_neg), wt = std::max(p * (1 - p), 1e-12);
      for (std::size_t k = 0; k < d; ++k) {
        g[k] += diff * xi[k];
        for (std::size_t l = 0; l < d; ++l) h[k][l] += wt * xi[k] * xi[l];
      }
    }
    // Solve h * step = g by Gauss-Jordan elimination with partial pivoting.
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

struct Hyper {
  int epoch;
  double lr;
  int word_ngrams;
  int dim;
  std::string str() const {
    return fmt::format("epoch {} lr {} ngrams {} dim {}", epoch, lr, word_ngrams, dim);
  }
};

void train_model(const std::vector<ml::LabeledExample>& examples, const std::string& out,
                 const Hyper& h, const TrainMultiRouterOptions& o) {
  ml::TrainSpec spec;
  spec.train = examples;
  spec.out_path = out;
  spec.epoch = h.epoch;
  spec.lr = h.lr;
  spec.word_ngrams = h.word_ngrams;
  spec.dim = h.dim;
  spec.bucket = 20000;  // small data: keeps each file a few MB
  spec.threads = o.threads;
  spec.seed = static_cast<int>(o.split.seed % 1000003);
  ml::train_classifier(spec);
}

double p_ok(const ml::FastTextModel& m, const std::string& text) {
  const auto preds = m.predict(text, static_cast<int>(m.labels().size()));
  if (preds.empty()) return 0.5;
  for (const auto& p : preds) {
    if (p.label == "ok") return p.probability;
  }
  return 0.0;
}

json::value opt_json(const std::optional<double>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

json::object metrics_json(const ScoreMetrics& m) {
  return json::object{{"n", m.n},         {"base_rate", m.base_rate}, {"auc", opt_json(m.auc)},
                      {"ece", m.ece},     {"brier", m.brier}};
}

json::object read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return json::parse(buf.str()).as_object();
}

void write_json(const std::string& path, const json::object& o) {
  std::ofstream out(path, std::ios::trunc);
  out << json::serialize(o) << "\n";
  if (!out) throw ml::ModelError("cannot write " + path);
}

}  // namespace

std::optional<double> roc_auc(const std::vector<double>& p, const std::vector<int>& y) {
  std::vector<std::size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  double n_pos = 0, rank_sum = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && p[order[j]] == p[order[i]]) ++j;
    const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t k = i; k < j; ++k) {
      if (y[order[k]]) {
        rank_sum += mid_rank;
        n_pos += 1;
      }
    }
    i = j;
  }
  const double n_neg = static_cast<double>(p.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::nullopt;
  return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg);
}

ScoreMetrics score_metrics(const std::vector<double>& p, const std::vector<int>& y) {
  ScoreMetrics m;
  m.n = static_cast<int64_t>(p.size());
  if (p.empty()) return m;
  m.auc = roc_auc(p, y);
  constexpr int kBins = 10;
  std::vector<double> sum_p(kBins), sum_y(kBins);
  double pos = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const int b = std::clamp(static_cast<int>(p[i] * kBins), 0, kBins - 1);
    sum_p[b] += p[i];
    sum_y[b] += y[i];
    m.brier += (p[i] - y[i]) * (p[i] - y[i]);
    pos += y[i];
  }
  const double n = static_cast<double>(p.size());
  for (int b = 0; b < kBins; ++b) m.ece += std::abs(sum_p[b] - sum_y[b]) / n;
  m.brier /= n;
  m.base_rate = pos / n;
  return m;
}

std::vector<std::string> routerbench_models(const std::vector<std::string>& header) {
  std::vector<std::string> out;
  for (const auto& h : header) {
    if (h.size() > kScoreSuffix.size() &&
        h.compare(h.size() - kScoreSuffix.size(), kScoreSuffix.size(), kScoreSuffix) == 0) {
      out.push_back(h.substr(0, h.size() - kScoreSuffix.size()));
    }
  }
  return out;
}

TrainMultiRouterReport train_multi_router(const TrainMultiRouterOptions& o) {
  const SteadyTime start = SteadyClock::now();
  TrainMultiRouterReport rep;
  if (o.out_path.empty()) throw ml::ModelError("train multi-router: no output path");
  if (o.datasets.empty()) throw ml::ModelError("train multi-router: no dataset");
  std::vector<std::string> models = o.models;
  rep.models.clear();
  std::vector<Row> rows;
  for (const std::string& dataset : o.datasets) {
    const CsvTable t = read_csv_file(dataset);
    rep.data_file_sha256.push_back(file_sha256(dataset));
    const auto prompt_col = t.column("prompt");
    if (!prompt_col) {
      throw ml::ModelError(dataset + ": no column 'prompt' (RouterBench format: id, prompt, "
                           "<model>|score, ...; columns: " + t.columns_list() + ")");
    }
    if (models.empty()) models = routerbench_models(t.header);
    if (models.empty()) {
      throw ml::ModelError(dataset + ": no '<model>|score' columns (columns: " +
                           t.columns_list() + ")");
    }
    rep.models.resize(models.size());
    std::vector<std::size_t> score_cols;
    for (const auto& m : models) {
      auto c = t.column(m + std::string(kScoreSuffix));
      if (!c) throw ml::ModelError(dataset + ": no column '" + m + "|score'");
      score_cols.push_back(*c);
    }
    const auto key_col = t.column(o.split.key_column);
    rep.n_rows += static_cast<int64_t>(t.rows.size());
    for (const auto& r : t.rows) {
      if (!r[*prompt_col]) {
        ++rep.n_missing_prompt;
        continue;
      }
      Row row;
      row.prompt = *r[*prompt_col];
      row.text = routes::multi_feature_text(row.prompt);
      row.part = o.split.part(key_col && r[*key_col] ? *r[*key_col] : row.prompt);
      (row.part == SplitPart::kTest ? rep.n_test
       : row.part == SplitPart::kCalibration ? rep.n_calibration : rep.n_fit)++;
      for (std::size_t m = 0; m < models.size(); ++m) {
        auto g = parse_grade(r[score_cols[m]]);
        ModelTrainReport& mr = rep.models[m];
        if (!g) {
          ++rep.missing_cells;
          (row.part == SplitPart::kTest ? mr.missing_test
           : row.part == SplitPart::kCalibration ? mr.missing_calibration : mr.missing_fit)++;
          row.correct.emplace_back(std::nullopt);
        } else {
          (row.part == SplitPart::kTest ? mr.n_test
           : row.part == SplitPart::kCalibration ? mr.n_calibration : mr.n_fit)++;
          row.correct.emplace_back(*g >= 0.5 ? 1 : 0);
        }
      }
      rows.push_back(std::move(row));
    }
  }
  const std::string data_name = o.datasets.front() + (o.datasets.size() > 1 ? " (+ more)" : "");
  if (rep.n_fit == 0 || rep.n_calibration == 0) {
    throw ml::ModelError(data_name + ": too few rows for a fit/calibration/test split (" +
                         std::to_string(rows.size()) + " rows with a prompt)");
  }

  // 1. The shared model: pooled (row, model) pairs of the fit part; hyperparameters chosen by
  //    the mean per-model AUC of its raw score on the calibration slice.
  std::vector<ml::LabeledExample> pooled;
  for (const Row& r : rows) {
    if (r.part != SplitPart::kFit) continue;
    for (const auto& c : r.correct) {
      if (c) pooled.push_back({r.text, *c ? "ok" : "bad"});
    }
  }
  if (pooled.empty()) throw ml::ModelError(data_name + ": no graded rows in the fit part");
  const std::vector<Hyper> grid = {{5, 0.1, 2, 20}, {10, 0.05, 1, 20}, {20, 0.05, 2, 20}};
  double best_auc = -1;
  const std::string tmp = o.out_path + ".candidate.bin";
  for (const Hyper& h : grid) {
    train_model(pooled, tmp, h, o);
    auto m = ml::FastTextModel::load(tmp);
    double sum = 0;
    int k = 0;
    for (std::size_t mi = 0; mi < models.size(); ++mi) {
      std::vector<double> p;
      std::vector<int> y;
      for (const Row& r : rows) {
        if (r.part == SplitPart::kCalibration && r.correct[mi]) {
          p.push_back(p_ok(*m, r.text));
          y.push_back(*r.correct[mi]);
        }
      }
      if (auto a = roc_auc(p, y)) {
        sum += *a;
        ++k;
      }
    }
    const double mean = k ? sum / k : 0.5;
    if (mean > best_auc) {
      best_auc = mean;
      rep.shared_hyper = h.str();
      fs::rename(tmp, o.out_path);
      fs::rename(ml::metadata_path_for(tmp), ml::metadata_path_for(o.out_path));
    } else {
      fs::remove(tmp);
      fs::remove(ml::metadata_path_for(tmp));
    }
  }
  rep.model_path = o.out_path;
  rep.metadata_path = ml::metadata_path_for(o.out_path);
  auto shared = ml::FastTextModel::load(o.out_path);

  // 2. Own models and 3. calibration.
  const Hyper own_hyper{10, 0.05, 1, 20};
  json::array models_json;
  for (std::size_t mi = 0; mi < models.size(); ++mi) {
    ModelTrainReport& mr = rep.models[mi];
    mr.name = models[mi];
    std::vector<ml::LabeledExample> ex;
    int pos = 0;
    for (const Row& r : rows) {
      if (r.part == SplitPart::kFit && r.correct[mi]) {
        ex.push_back({r.text, *r.correct[mi] ? "ok" : "bad"});
        pos += *r.correct[mi];
      }
    }
    const std::string file = o.out_path + ".m" + std::to_string(mi) + ".bin";
    std::shared_ptr<const ml::FastTextModel> own;
    if (static_cast<int>(ex.size()) >= o.min_own_rows && pos > 0 &&
        pos < static_cast<int>(ex.size())) {
      train_model(ex, file, own_hyper, o);
      own = ml::FastTextModel::load(file);
    } else {
      fs::remove(file);
      fs::remove(ml::metadata_path_for(file));
    }
    std::vector<std::vector<double>> x;
    std::vector<int> y;
    for (const Row& r : rows) {
      if (r.part != SplitPart::kCalibration || !r.correct[mi]) continue;
      const double s = logit(p_ok(*shared, r.text));
      x.push_back(own ? std::vector<double>{logit(p_ok(*own, r.text)), s}
                      : std::vector<double>{0.0, s});
      y.push_back(*r.correct[mi]);
    }
    // Fit [own, shared]; drop a term whose weight comes out negative and refit.
    bool use_own = own != nullptr, use_shared = true;
    std::vector<double> w;
    for (int round = 0; round < 3; ++round) {
      std::vector<std::vector<double>> xs;
      for (const auto& xi : x) {
        std::vector<double> v;
        if (use_own) v.push_back(xi[0]);
        if (use_shared) v.push_back(xi[1]);
        xs.push_back(std::move(v));
      }
      const std::size_t d = (use_own ? 1 : 0) + (use_shared ? 1 : 0);
      w = fit_logistic(xs, y, d);
      mr.a = use_own ? w[0] : 0.0;
      mr.c = use_shared ? w[use_own ? 1 : 0] : 0.0;
      mr.b = w.back();
      if (use_own && mr.a < 0) {
        use_own = false;
      } else if (use_shared && mr.c < 0) {
        use_shared = false;
      } else {
        break;
      }
    }
    if (x.empty()) mr.a = mr.c = mr.b = 0.0;
    if (!use_own || mr.a == 0.0) {
      mr.a = 0.0;
      if (own) {
        own.reset();
        fs::remove(file);
        fs::remove(ml::metadata_path_for(file));
      }
    }
    mr.own_model = own != nullptr;
    json::object mj{{"name", mr.name},
                    {"calibration", json::object{{"a", mr.a}, {"c", mr.c}, {"b", mr.b}}},
                    {"rows_with_grade", json::object{{"fit", mr.n_fit},
                                                     {"calibration", mr.n_calibration},
                                                     {"test", mr.n_test}}},
                    {"missing_cells", json::object{{"fit", mr.missing_fit},
                                                   {"calibration", mr.missing_calibration},
                                                   {"test", mr.missing_test}}}};
    if (own) mj["file"] = fs::path(file).filename().string();
    models_json.push_back(std::move(mj));
  }

  json::array data_files;
  for (std::size_t i = 0; i < o.datasets.size(); ++i) {
    data_files.push_back(json::object{{"path", o.datasets[i]}, {"sha256", rep.data_file_sha256[i]}});
  }
  json::object meta = read_json(rep.metadata_path);
  json::object block{
      {"format", "triage-multi-router/1"},
      {"score", "calibrated P(model's answer correct), correct = <model>|score >= 0.5"},
      {"features", "last paragraph of the prompt (routes::multi_feature_text)"},
      {"positive_label", "ok"},
      {"shared_model", json::object{{"training", "pooled (row, model) pairs of the fit part"},
                                    {"hyperparameters", rep.shared_hyper}}},
      {"own_models", json::object{{"hyperparameters", own_hyper.str()},
                                  {"min_rows", o.min_own_rows}}},
      {"calibration_method", "logistic(logit p_own, logit p_shared), weights >= 0, fitted on "
                             "the calibration slice"},
      {"models", std::move(models_json)},
      {"split", o.split.to_json()},
      {"data_files", data_files},
      {"n_rows", rep.n_rows},
      {"n_missing_prompt", rep.n_missing_prompt},
      {"n_fit", rep.n_fit},
      {"n_calibration", rep.n_calibration},
      {"n_test", rep.n_test},
      {"missing_cells", rep.missing_cells},
      {"missing_rule", "a row with an empty <model>|score cell is excluded for that model "
                       "(training, calibration, metrics) and counted; never read as 0"}};
  meta["multi_router"] = std::move(block);
  write_json(rep.metadata_path, meta);

  // 5. Metrics through the serving predictor.
  auto predictor = routes::ScorePredictor::load(o.out_path);
  std::vector<std::vector<double>> preds;
  for (const Row& r : rows) {
    preds.push_back(r.part == SplitPart::kFit ? std::vector<double>{}
                                              : predictor->predict(r.prompt));
  }
  auto& mlist = meta["multi_router"].as_object()["models"].as_array();
  for (std::size_t mi = 0; mi < models.size(); ++mi) {
    std::vector<double> pv, pt;
    std::vector<int> yv, yt;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      if (r.part == SplitPart::kFit || !r.correct[mi]) continue;
      (r.part == SplitPart::kTest ? pt : pv).push_back(preds[i][mi]);
      (r.part == SplitPart::kTest ? yt : yv).push_back(*r.correct[mi]);
    }
    rep.models[mi].validation = score_metrics(pv, yv);
    rep.models[mi].test = score_metrics(pt, yt);
    auto& mj = mlist[mi].as_object();
    mj["validation"] = metrics_json(rep.models[mi].validation);
    mj["test"] = metrics_json(rep.models[mi].test);
  }
  write_json(rep.metadata_path, meta);
  rep.seconds = static_cast<double>(micros_between(start, SteadyClock::now())) / 1e6;
  return rep;
}

void print_train_multi_router_report(const TrainMultiRouterReport& r,
                                     const TrainMultiRouterOptions& o, std::ostream& out) {
  auto auc = [](const std::optional<double>& v) {
    return v ? fmt::format("{:.3f}", *v) : std::string("  n/a");
  };
  for (std::size_t i = 0; i < o.datasets.size(); ++i) {
    out << fmt::format("trained from {} (sha256 {})\n", o.datasets[i],
                       r.data_file_sha256[i].substr(0, 16));
  }
  out << fmt::format("rows: {} ({} without a prompt); split by fnv1a64(\"{}:<{}>\") % 10000: "
                     "fit {}, calibration {}, test {}\n",
                     r.n_rows, r.n_missing_prompt, o.split.seed, o.split.key_column, r.n_fit,
                     r.n_calibration, r.n_test);
  out << fmt::format("missing score cells: {} (excluded per model, never read as 0)\n",
                     r.missing_cells);
  out << "shared model: " << r.shared_hyper << "\n";
  out << fmt::format("{:<36} {:>4} {:>6} {:>6} {:>6} | {:>5} {:>5} {:>5} | {:>5} {:>5} {:>5} "
                     "| {}\n",
                     "model", "own", "a", "c", "b", "v.acc", "v.AUC", "v.ECE", "t.acc", "t.AUC",
                     "t.ECE", "missing fit/cal/test");
  for (const auto& m : r.models) {
    out << fmt::format("{:<36} {:>4} {:>6.2f} {:>6.2f} {:>6.2f} | {:>5.3f} {:>5} {:>5.3f} | "
                       "{:>5.3f} {:>5} {:>5.3f} | {}/{}/{}\n",
                       m.name, m.own_model ? "yes" : "no", m.a, m.c, m.b, m.validation.base_rate,
                       auc(m.validation.auc), m.validation.ece, m.test.base_rate,
                       auc(m.test.auc), m.test.ece, m.missing_fit, m.missing_calibration,
                       m.missing_test);
  }
  out << fmt::format("wrote {} (+ per-model files) and {} ({:.1f} s)\n", r.model_path,
                     r.metadata_path, r.seconds);
}

int run_train_multi_router(const TrainMultiRouterOptions& options) {
  try {
    auto rep = train_multi_router(options);
    print_train_multi_router_report(rep, options, std::cout);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "triage train multi-router: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace triage::offline

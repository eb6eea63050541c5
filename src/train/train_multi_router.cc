#include "train/train_multi_router.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "common/clock.h"
#include "common/csv.h"
#include "ml/fasttext_model.h"
#include "datasets/dataset_rows.h"
#include "output/output_format.h"
#include "train/train_common.h"
#include "ml/score_predictor.h"

namespace triage::train {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct Row {
  std::string text;  // multi_feature_text(prompt)
  std::string prompt;
  datasets::SplitPart part = datasets::SplitPart::kFit;
  std::vector<std::optional<int>> correct;  // per model; nullopt = missing cell
};

// The per-model calibration fit: a true ridge on the weights (a small slice must not make a
// weight large), bias nearly free, all weights starting at 0.
constexpr LogisticFit kCalibrationFit{/*initial_first_weight=*/0.0, /*weight_damping=*/1e-3,
                                      /*bias_damping=*/1e-9, /*ridge_gradient=*/true,
                                      /*min_curvature=*/1e-12};

std::string hyper_str(const TrainHyper& h) {
  return fmt::format("epoch {} lr {} ngrams {} dim {}", h.epoch, h.lr, h.word_ngrams, h.dim);
}

void train_model(const std::vector<ml::LabeledExample>& examples, const std::string& out,
                 const TrainHyper& h, const TrainMultiRouterOptions& o) {
  ml::TrainSpec spec = train_spec(examples, out, h, o.threads, o.split);
  spec.bucket = 20000;  // small data: keeps each file a few MB
  ml::train_classifier(spec);
}

double p_ok(const ml::FastTextModel& m, const std::string& text) {
  return ml::label_probability(m, text, "ok", 0.5);
}

json::object metrics_json(const ScoreMetrics& m) {
  return json::object{{"n", m.n},         {"base_rate", m.base_rate}, {"auc", output::json_or_null(m.auc)},
                      {"ece", m.ece},     {"brier", m.brier}};
}

}  // namespace

ScoreMetrics score_metrics(const std::vector<double>& p, const std::vector<int>& y) {
  ScoreMetrics m;
  m.n = static_cast<int64_t>(p.size());
  if (p.empty()) return m;
  m.auc = roc_auc(p, y);
  double pos = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    m.brier += (p[i] - y[i]) * (p[i] - y[i]);
    pos += y[i];
  }
  const double n = static_cast<double>(p.size());
  m.ece = binned_ece(p, std::vector<double>(y.begin(), y.end()));
  m.brier /= n;
  m.base_rate = pos / n;
  return m;
}

namespace {

// Reads one RouterBench file's rows into `rows`, counted per part and model in `rep`. The
// models are `models`, or the file's when empty (then set from the first file).
void read_dataset(const std::string& dataset, const TrainMultiRouterOptions& o,
                  std::vector<std::string>& models, std::vector<Row>& rows,
                  TrainMultiRouterReport& rep) {
  const CsvTable t = read_csv_file(dataset);
  rep.data_file_sha256.push_back(datasets::file_sha256(dataset));
  const auto prompt_col = t.column("prompt");
  if (!prompt_col) {
    throw ml::ModelError(dataset + ": no column 'prompt' (RouterBench format: id, prompt, "
                         "<model>|score, ...; columns: " + t.columns_list() + ")");
  }
  if (models.empty()) models = datasets::routerbench_models(t.header);
  if (models.empty()) {
    throw ml::ModelError(dataset + ": no '<model>|score' columns (columns: " +
                         t.columns_list() + ")");
  }
  rep.models.resize(models.size());
  std::vector<std::size_t> score_cols;
  for (const auto& m : models) {
    auto c = t.column(m + std::string(datasets::kModelScoreSuffix));
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
    row.text = ml::multi_feature_text(row.prompt);
    row.part = o.split.part(key_col && r[*key_col] ? *r[*key_col] : row.prompt);
    (row.part == datasets::SplitPart::kTest ? rep.n_test
     : row.part == datasets::SplitPart::kCalibration ? rep.n_calibration : rep.n_fit)++;
    for (std::size_t m = 0; m < models.size(); ++m) {
      auto g = datasets::parse_number_cell(r[score_cols[m]]);
      ModelTrainReport& mr = rep.models[m];
      if (!g) {
        ++rep.missing_cells;
        (row.part == datasets::SplitPart::kTest ? mr.missing_test
         : row.part == datasets::SplitPart::kCalibration ? mr.missing_calibration : mr.missing_fit)++;
        row.correct.emplace_back(std::nullopt);
      } else {
        (row.part == datasets::SplitPart::kTest ? mr.n_test
         : row.part == datasets::SplitPart::kCalibration ? mr.n_calibration : mr.n_fit)++;
        row.correct.emplace_back(*g >= 0.5 ? 1 : 0);
      }
    }
    rows.push_back(std::move(row));
  }
}

// Protocol step 3, the shared model: pooled (row, model) pairs of the fit part; hyperparameters
// chosen by the mean per-model AUC of its raw score on the calibration slice. Written to
// o.out_path (with its ml metadata) and returned loaded.
std::shared_ptr<const ml::FastTextModel> train_shared_model(const std::vector<Row>& rows,
                                                            std::size_t n_models,
                                                            const std::string& data_name,
                                                            const TrainMultiRouterOptions& o,
                                                            TrainMultiRouterReport& rep) {
  std::vector<ml::LabeledExample> pooled;
  for (const Row& r : rows) {
    if (r.part != datasets::SplitPart::kFit) continue;
    for (const auto& c : r.correct) {
      if (c) pooled.push_back({r.text, *c ? "ok" : "bad"});
    }
  }
  if (pooled.empty()) throw ml::ModelError(data_name + ": no graded rows in the fit part");
  const std::vector<TrainHyper> grid = {{5, 0.1, 2, 20}, {10, 0.05, 1, 20}, {20, 0.05, 2, 20}};
  double best_auc = -1;
  const std::string tmp = o.out_path + ".candidate.bin";
  for (const TrainHyper& h : grid) {
    train_model(pooled, tmp, h, o);
    auto m = ml::FastTextModel::load(tmp);
    double sum = 0;
    int k = 0;
    for (std::size_t mi = 0; mi < n_models; ++mi) {
      std::vector<double> p;
      std::vector<int> y;
      for (const Row& r : rows) {
        if (r.part == datasets::SplitPart::kCalibration && r.correct[mi]) {
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
      rep.shared_hyper = hyper_str(h);
      move_model(tmp, o.out_path);
    } else {
      remove_model(tmp);
    }
  }
  rep.model_path = o.out_path;
  rep.metadata_path = ml::metadata_path_for(o.out_path);
  return ml::FastTextModel::load(o.out_path);
}

const TrainHyper kOwnHyper{10, 0.05, 1, 20};

// Protocol step 3, model mi's own model: trained on its graded fit rows into `file` when it has
// at least o.min_own_rows of them, of both classes; else none (and no file).
std::shared_ptr<const ml::FastTextModel> train_own_model(const std::vector<Row>& rows,
                                                         std::size_t mi, const std::string& file,
                                                         const TrainMultiRouterOptions& o) {
  std::vector<ml::LabeledExample> ex;
  int pos = 0;
  for (const Row& r : rows) {
    if (r.part == datasets::SplitPart::kFit && r.correct[mi]) {
      ex.push_back({r.text, *r.correct[mi] ? "ok" : "bad"});
      pos += *r.correct[mi];
    }
  }
  if (static_cast<int>(ex.size()) >= o.min_own_rows && pos > 0 &&
      pos < static_cast<int>(ex.size())) {
    train_model(ex, file, kOwnHyper, o);
    return ml::FastTextModel::load(file);
  }
  remove_model(file);
  return nullptr;
}

// Protocol step 4 for model mi: the calibration [own, shared] on the calibration slice,
// dropping a term whose weight comes out negative and refitting. Sets mr.a, mr.c, mr.b; an own
// model left with a = 0 is removed (`own` reset, `file` deleted).
void calibrate_model(const std::vector<Row>& rows, std::size_t mi,
                     const ml::FastTextModel& shared, std::shared_ptr<const ml::FastTextModel>& own,
                     const std::string& file, ModelTrainReport& mr) {
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  for (const Row& r : rows) {
    if (r.part != datasets::SplitPart::kCalibration || !r.correct[mi]) continue;
    const double s = logit(p_ok(shared, r.text));
    x.push_back(own ? std::vector<double>{logit(p_ok(*own, r.text)), s}
                    : std::vector<double>{0.0, s});
    y.push_back(*r.correct[mi]);
  }
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
    w = fit_logistic(xs, y, d, kCalibrationFit);
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
      remove_model(file);
    }
  }
}

// Model mi's entry in the metadata's "models" list (no metrics yet).
json::object model_json(const ModelTrainReport& mr, const std::string& own_file) {
  json::object mj{{"name", mr.name},
                  {"calibration", json::object{{"a", mr.a}, {"c", mr.c}, {"b", mr.b}}},
                  {"rows_with_grade", json::object{{"fit", mr.n_fit},
                                                   {"calibration", mr.n_calibration},
                                                   {"test", mr.n_test}}},
                  {"missing_cells", json::object{{"fit", mr.missing_fit},
                                                 {"calibration", mr.missing_calibration},
                                                 {"test", mr.missing_test}}}};
  if (!own_file.empty()) mj["file"] = fs::path(own_file).filename().string();
  return mj;
}

// The metadata's "multi_router" block.
json::object multi_router_block(json::array models_json, const TrainMultiRouterOptions& o,
                                const TrainMultiRouterReport& rep) {
  json::array data_files;
  for (std::size_t i = 0; i < o.datasets.size(); ++i) {
    data_files.push_back(json::object{{"path", o.datasets[i]}, {"sha256", rep.data_file_sha256[i]}});
  }
  return json::object{
      {"format", "triage-multi-router/1"},
      {"score", "calibrated P(model's answer correct), correct = <model>|score >= 0.5"},
      {"features", "last paragraph of the prompt (routes::multi_feature_text)"},
      {"positive_label", "ok"},
      {"shared_model", json::object{{"training", "pooled (row, model) pairs of the fit part"},
                                    {"hyperparameters", rep.shared_hyper}}},
      {"own_models", json::object{{"hyperparameters", hyper_str(kOwnHyper)},
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
}

// Protocol step 5: per model, metrics through the serving predictor on the calibration slice
// ("validation") and the test part, into rep and the metadata's model entries.
void held_out_metrics(const std::vector<Row>& rows, const TrainMultiRouterOptions& o,
                      TrainMultiRouterReport& rep, json::object& meta) {
  auto predictor = ml::ScorePredictor::load(o.out_path);
  std::vector<std::vector<double>> preds;
  for (const Row& r : rows) {
    preds.push_back(r.part == datasets::SplitPart::kFit ? std::vector<double>{}
                                                        : predictor->predict(r.prompt));
  }
  auto& mlist = meta["multi_router"].as_object()["models"].as_array();
  for (std::size_t mi = 0; mi < rep.models.size(); ++mi) {
    std::vector<double> pv, pt;
    std::vector<int> yv, yt;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      if (r.part == datasets::SplitPart::kFit || !r.correct[mi]) continue;
      (r.part == datasets::SplitPart::kTest ? pt : pv).push_back(preds[i][mi]);
      (r.part == datasets::SplitPart::kTest ? yt : yv).push_back(*r.correct[mi]);
    }
    rep.models[mi].validation = score_metrics(pv, yv);
    rep.models[mi].test = score_metrics(pt, yt);
    auto& mj = mlist[mi].as_object();
    mj["validation"] = metrics_json(rep.models[mi].validation);
    mj["test"] = metrics_json(rep.models[mi].test);
  }
}

}  // namespace

TrainMultiRouterReport train_multi_router(const TrainMultiRouterOptions& o) {
  const SteadyTime start = SteadyClock::now();
  TrainMultiRouterReport rep;
  if (o.out_path.empty()) throw ml::ModelError("train multi-router: no output path");
  if (o.datasets.empty()) throw ml::ModelError("train multi-router: no dataset");
  std::vector<std::string> models = o.models;
  rep.models.clear();
  std::vector<Row> rows;
  for (const std::string& dataset : o.datasets) read_dataset(dataset, o, models, rows, rep);
  const std::string data_name = o.datasets.front() + (o.datasets.size() > 1 ? " (+ more)" : "");
  if (rep.n_fit == 0 || rep.n_calibration == 0) {
    throw ml::ModelError(data_name + ": too few rows for a fit/calibration/test split (" +
                         std::to_string(rows.size()) + " rows with a prompt)");
  }

  const auto shared = train_shared_model(rows, models.size(), data_name, o, rep);
  json::array models_json;
  for (std::size_t mi = 0; mi < models.size(); ++mi) {
    ModelTrainReport& mr = rep.models[mi];
    mr.name = models[mi];
    const std::string file = o.out_path + ".m" + std::to_string(mi) + ".bin";
    std::shared_ptr<const ml::FastTextModel> own = train_own_model(rows, mi, file, o);
    calibrate_model(rows, mi, *shared, own, file, mr);
    mr.own_model = own != nullptr;
    models_json.push_back(model_json(mr, own ? file : std::string()));
  }

  json::object meta = output::read_json_object(rep.metadata_path);
  meta["multi_router"] = multi_router_block(std::move(models_json), o, rep);
  output::write_json_object(rep.metadata_path, meta);
  held_out_metrics(rows, o, rep, meta);
  output::write_json_object(rep.metadata_path, meta);
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
  return run_train_command("multi-router", options, train_multi_router,
                           print_train_multi_router_report);
}

}  // namespace triage::train

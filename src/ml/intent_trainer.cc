#include "ml/intent_trainer.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "common/clock.h"
#include "ml/datasets.h"
#include "ml/fasttext_model.h"
#include "ml/intent_confidence.h"

namespace triage::ml {
namespace {

uint64_t fnv1a(uint64_t seed, std::string_view text) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(seed >> (8 * i)));
  for (char c : text) mix(static_cast<unsigned char>(c));
  return h;
}

// Top-1 label, raw probability and correctness of `model` on `examples`. An example without
// a prediction (empty features) counts as confidence 0, wrong, label "".
void score_top1(const FastTextModel& model, const std::vector<LabeledExample>& examples,
                std::vector<double>& conf, std::vector<bool>& right,
                std::vector<std::string>* labels = nullptr) {
  conf.clear();
  right.clear();
  if (labels) labels->clear();
  for (const auto& ex : examples) {
    auto p = model.predict(ex.text, 1);
    conf.push_back(p.empty() ? 0.0 : p[0].probability);
    right.push_back(!p.empty() && p[0].label == ex.label);
    if (labels) labels->push_back(p.empty() ? std::string() : p[0].label);
  }
}

// The neighbour-agreement maps (ml/intent_confidence.h) fitted on the calibration slice
// (`calib`, its top-1 `labels`, `conf`, `right`), with `references` the rows fastText trained
// on. A case without slice rows keeps the top-1 map. Writes the references next to the model
// and returns the metadata block; `confidence` gets the resulting confidence.
boost::json::object fit_neighbor_calibration(const IntentTrainOptions& o,
                                             const std::vector<LabeledExample>& references,
                                             const std::vector<LabeledExample>& calib,
                                             const std::vector<std::string>& labels,
                                             const std::vector<double>& conf,
                                             const std::vector<bool>& right, const Calibrator& top1,
                                             IntentConfidence& confidence) {
  const IntentConfidence search(top1, references, top1, top1);  // for nearest_agrees only
  std::vector<double> conf_by[2];
  std::vector<bool> right_by[2];
  for (std::size_t i = 0; i < calib.size(); ++i) {
    const int agree = search.nearest_agrees(calib[i].text, labels[i]) ? 1 : 0;
    conf_by[agree].push_back(conf[i]);
    right_by[agree].push_back(right[i]);
  }
  auto fit = [&](int agree) {
    if (conf_by[agree].empty()) return top1;
    return o.calibration == "platt"
               ? Calibrator::fit_platt(conf_by[agree], right_by[agree])
               : Calibrator::fit_isotonic(conf_by[agree], right_by[agree], o.isotonic_min_block);
  };
  const Calibrator agree = fit(1), disagree = fit(0);
  const std::string refs_path = o.out_path + ".refs.jsonl";
  write_intent_references(refs_path, references);
  std::ifstream in(refs_path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  confidence = IntentConfidence(top1, references, agree, disagree);
  return boost::json::object{
      {"format", kIntentNeighborFormat},
      {"references", std::filesystem::path(refs_path).filename().string()},
      {"references_sha256", sha256_hex(buf.str())},
      {"n_references", references.size()},
      {"rule",
       "agree: the nearest reference utterance (TF-IDF cosine) has the predicted label; "
       "disagree: another label or no neighbour"},
      {"fit_on", "the calibration slice, split by agreement"},
      {"n_agree", conf_by[1].size()},
      {"n_disagree", conf_by[0].size()},
      {"agree", agree.to_json()},
      {"disagree", disagree.to_json()}};
}

boost::json::array reliability_json(const std::vector<double>& conf,
                                    const std::vector<bool>& right) {
  boost::json::array out;
  for (const auto& b : reliability_table(conf, right, 10)) {
    out.push_back(boost::json::object{{"lo", b.lo},
                                      {"hi", b.hi},
                                      {"n", b.n},
                                      {"mean_confidence", b.mean_confidence},
                                      {"accuracy", b.accuracy}});
  }
  return out;
}

}  // namespace

std::vector<bool> calibration_slice(const std::vector<std::string>& texts,
                                    const std::vector<std::string>& labels, double fraction,
                                    uint64_t seed) {
  std::vector<bool> held(texts.size(), false);
  std::map<std::string, std::vector<std::size_t>> by_label;
  for (std::size_t i = 0; i < texts.size() && i < labels.size(); ++i) {
    by_label[labels[i]].push_back(i);
  }
  fraction = std::clamp(fraction, 0.0, 1.0);
  for (auto& [label, idx] : by_label) {
    std::vector<std::pair<uint64_t, std::size_t>> keyed;
    for (std::size_t i : idx) keyed.emplace_back(fnv1a(seed, texts[i]), i);
    std::sort(keyed.begin(), keyed.end());
    const auto k =
        static_cast<std::size_t>(std::llround(fraction * static_cast<double>(idx.size())));
    for (std::size_t j = 0; j < k && j < keyed.size(); ++j) held[keyed[j].second] = true;
  }
  return held;
}

TrainReport train_intent_model(const IntentTrainOptions& o) {
  const auto start = SteadyClock::now();
  if (o.calibration != "isotonic" && o.calibration != "platt" && o.calibration != "none") {
    throw ModelError("unknown calibration method \"" + o.calibration +
                     "\" (known: isotonic, platt, none)");
  }
  const std::vector<LabeledExample> all = load_clinc150_jsonl(o.train_jsonl);
  std::vector<LabeledExample> validation;
  if (!o.val_jsonl.empty()) validation = load_clinc150_jsonl(o.val_jsonl);

  const double fraction = o.calibration == "none" ? 0.0 : o.calibration_fraction;
  std::vector<std::string> texts, labels;
  for (const auto& ex : all) {
    texts.push_back(ex.text);
    labels.push_back(ex.label);
  }
  const std::vector<bool> held = calibration_slice(texts, labels, fraction, o.split_seed);
  TrainSpec spec;
  std::vector<LabeledExample> calib;
  for (std::size_t i = 0; i < all.size(); ++i) (held[i] ? calib : spec.train).push_back(all[i]);
  if (o.calibration != "none" && calib.empty()) {
    throw ModelError(o.train_jsonl +
                     ": the calibration slice is empty (too few examples for "
                     "calibration_fraction " +
                     std::to_string(o.calibration_fraction) + ")");
  }
  spec.validation = validation;
  spec.out_path = o.out_path;
  spec.epoch = o.epoch;
  spec.lr = o.lr;
  spec.word_ngrams = o.word_ngrams;
  spec.dim = o.dim;
  spec.minn = o.minn;
  spec.maxn = o.maxn;
  spec.bucket = o.bucket;
  spec.threads = o.threads;
  TrainResult r = train_classifier(spec);

  // Fit on the held-out slice, through the same load/predict path as serving.
  auto model = FastTextModel::load(r.model_path);
  std::vector<double> conf;
  std::vector<bool> right;
  std::vector<std::string> predicted;
  Calibrator calibrator;
  IntentConfidence confidence;
  boost::json::object neighbor_block;
  double ece_slice_raw = 0.0, ece_slice_cal = 0.0;
  std::filesystem::remove(o.out_path + ".refs.jsonl");  // a stale file from an earlier training
  if (!calib.empty()) {
    score_top1(*model, calib, conf, right, &predicted);
    calibrator = o.calibration == "platt"
                     ? Calibrator::fit_platt(conf, right)
                     : Calibrator::fit_isotonic(conf, right, o.isotonic_min_block);
    ece_slice_raw = expected_calibration_error(conf, right);
    std::vector<double> cal;
    for (double c : conf) cal.push_back(calibrator.apply(c));
    ece_slice_cal = expected_calibration_error(cal, right);
    confidence = IntentConfidence(calibrator);
    if (o.neighbor_calibration) {
      neighbor_block = fit_neighbor_calibration(o, spec.train, calib, predicted, conf, right,
                                                calibrator, confidence);
    }
  }

  TrainReport report;
  report.model_path = r.model_path;
  report.metadata_path = r.metadata_path;
  report.n_labels = static_cast<int64_t>(r.labels.size());
  report.n_train = r.n_train;
  report.n_calibration = static_cast<int64_t>(calib.size());
  report.n_validation = r.n_validation;
  report.validation_accuracy = r.validation_accuracy.value_or(0.0);
  report.calibration_method = confidence.method_name();
  report.train_seconds = r.train_seconds;

  // Rewrite the metadata with the calibration blocks.
  std::ifstream in(r.metadata_path);
  std::stringstream buf;
  buf << in.rdbuf();
  boost::system::error_code ec;
  boost::json::value meta_v = boost::json::parse(buf.str(), ec);
  if (ec || !meta_v.is_object()) throw ModelError(r.metadata_path + ": cannot re-read metadata");
  auto& meta = meta_v.as_object();
  if (!calib.empty()) {
    boost::json::object cal = calibrator.to_json();
    cal["fit_on"] = "held-out slice of the training file (never trained on)";
    cal["split"] = boost::json::object{{"fraction", o.calibration_fraction},
                                       {"seed", o.split_seed},
                                       {"stratified_by", "label"},
                                       {"rule",
                                        "per label, the round(fraction*n) examples "
                                        "with the smallest fnv1a64(seed, text)"}};
    cal["n"] = report.n_calibration;
    if (calibrator.method() == Calibrator::Method::kIsotonic)
      cal["min_block"] = o.isotonic_min_block;
    cal["ece_raw"] = ece_slice_raw;
    cal["ece_calibrated"] = ece_slice_cal;
    meta["calibration"] = std::move(cal);
  } else {
    meta["calibration"] = nullptr;
  }
  if (neighbor_block.empty()) {
    meta["neighbor_calibration"] = nullptr;
  } else {
    meta["neighbor_calibration"] = std::move(neighbor_block);
  }
  if (!validation.empty()) {
    score_top1(*model, validation, conf, right, &predicted);
    std::vector<double> cal;
    for (std::size_t i = 0; i < conf.size(); ++i) {
      cal.push_back(confidence.apply(validation[i].text, predicted[i], conf[i]));
    }
    report.ece_validation_raw = expected_calibration_error(conf, right);
    report.ece_validation_calibrated = expected_calibration_error(cal, right);
    meta["validation_calibration"] =
        boost::json::object{{"ece_raw", report.ece_validation_raw},
                            {"ece_calibrated", report.ece_validation_calibrated},
                            {"bins", 15},
                            {"reliability", reliability_json(cal, right)}};
  }
  std::ofstream out(r.metadata_path, std::ios::trunc);
  out << boost::json::serialize(meta) << "\n";
  if (!out) throw ModelError("cannot write model metadata " + r.metadata_path);
  report.total_seconds = static_cast<double>(micros_between(start, SteadyClock::now())) / 1e6;
  return report;
}

TrainReport train_intent_model(const std::string& train_jsonl, const std::string& val_jsonl,
                               const std::string& out_path) {
  IntentTrainOptions o;
  o.train_jsonl = train_jsonl;
  o.val_jsonl = val_jsonl;
  o.out_path = out_path;
  return train_intent_model(o);
}

}  // namespace triage::ml

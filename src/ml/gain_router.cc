#include "ml/gain_router.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "ml/fasttext_model.h"
#include "ml/logistic.h"
#include "ml/model_metadata.h"

namespace triage::ml {

namespace {

double clipped_logit(double p) {
  p = std::clamp(p, 1e-4, 1.0 - 1e-4);
  return std::log(p / (1.0 - p));
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-std::clamp(z, -30.0, 30.0))); }

double median_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double weighted_residual(const std::vector<Neighbor>& nb, const std::vector<double>& residual) {
  double num = 0.0, den = 1e-9;
  for (const Neighbor& n : nb) {
    num += n.similarity * residual[n.index];
    den += n.similarity;
  }
  return num / den;
}

}  // namespace

const std::array<std::string, kGainInputCount>& gain_input_names() {
  static const std::array<std::string, kGainInputCount> names = [] {
    std::array<std::string, kGainInputCount> n;
    n[0] = "category_rate_logit";
    n[1] = "neighbors_prompt_residual";
    n[2] = "neighbors_stem_residual";
    const auto& f = prompt_feature_names();
    for (std::size_t i = 0; i < kPromptFeatureCount; ++i) n[3 + i] = std::string(f[i]);
    n[kGainInputCount - 1] = "question_length_vs_category";
    return n;
  }();
  return names;
}

double SmoothedRates::rate(std::string_view category) const {
  auto it = rates.find(category);
  return it == rates.end() ? prior : it->second;
}

SmoothedRates SmoothedRates::fit(const std::vector<std::string_view>& categories,
                                 const std::vector<double>& y, double smoothing) {
  SmoothedRates r;
  if (y.empty()) return r;
  std::map<std::string_view, std::pair<double, double>> sums;
  double total = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    total += y[i];
    if (categories[i].empty()) continue;
    auto& s = sums[categories[i]];
    s.first += y[i];
    s.second += 1.0;
  }
  r.prior = total / static_cast<double>(y.size());
  for (const auto& [c, s] : sums) {
    r.rates[std::string(c)] = (s.first + smoothing * r.prior) / (s.second + smoothing);
  }
  return r;
}

double CategoryMedians::median(std::string_view category) const {
  auto it = medians.find(category);
  return it == medians.end() ? overall : it->second;
}

CategoryMedians CategoryMedians::fit(const std::vector<std::string_view>& categories,
                                     const std::vector<double>& values) {
  CategoryMedians m;
  std::map<std::string_view, std::vector<double>> by;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!categories[i].empty()) by[categories[i]].push_back(values[i]);
  }
  for (auto& [c, v] : by) m.medians[std::string(c)] = median_of(std::move(v));
  m.overall = median_of(values);
  return m;
}

double LinearProbability::probability(const GainInputs& x) const {
  double z = bias;
  for (std::size_t k = 0; k < weights.size(); ++k) z += weights[k] * (x[k] - mean[k]) / sd[k];
  return sigmoid(z);
}

LinearProbability LinearProbability::fit(const std::vector<GainInputs>& x,
                                         const std::vector<double>& y, double ridge,
                                         int iterations) {
  if (x.empty() || x.size() != y.size()) throw std::invalid_argument("ridge fit: no rows");
  const std::size_t d = kGainInputCount;
  const double n = static_cast<double>(x.size());
  LinearProbability m;
  m.mean.assign(d, 0.0);
  m.sd.assign(d, 0.0);
  for (const auto& r : x) {
    for (std::size_t k = 0; k < d; ++k) m.mean[k] += r[k] / n;
  }
  for (const auto& r : x) {
    for (std::size_t k = 0; k < d; ++k) m.sd[k] += (r[k] - m.mean[k]) * (r[k] - m.mean[k]) / n;
  }
  // A constant column has a variance of rounding size, not exactly 0: dividing by its root
  // would blow up any request whose value differs. Such a column is centred to 0, scale 1.
  for (std::size_t k = 0; k < d; ++k) {
    const double sd = std::sqrt(m.sd[k]);
    if (sd <= 1e-9 * std::max(1.0, std::abs(m.mean[k]))) {
      m.sd[k] = 1.0;
      bool constant = true;
      for (const auto& r : x) constant = constant && r[k] == x.front()[k];
      if (constant) m.mean[k] = x.front()[k];
    } else {
      m.sd[k] = sd;
    }
  }
  std::vector<std::vector<double>> z(x.size(), std::vector<double>(d));
  for (std::size_t i = 0; i < x.size(); ++i) {
    for (std::size_t k = 0; k < d; ++k) z[i][k] = (x[i][k] - m.mean[k]) / m.sd[k];
  }
  NewtonLogistic newton;
  newton.weight_damping = ridge;
  newton.ridge_gradient = true;
  newton.max_iterations = iterations;
  std::vector<double> w = fit_logistic_newton(z, d, y, newton);
  m.bias = w.back();
  w.pop_back();
  m.weights = std::move(w);
  return m;
}

std::string_view gain_text(std::string_view prompt) {
  return model_text(prompt);
}

GainInputs gain_shared_inputs(std::string_view prompt, double category_median_qlen) {
  GainInputs x{};
  const auto f = prompt_features(prompt);
  std::copy(f.begin(), f.end(), x.begin() + 3);
  x[kGainInputCount - 1] = f[kQuestionLengthFeature] - category_median_qlen;
  return x;
}

GainInputs gain_inputs_for(GainInputs x, double category_rate, const std::vector<Neighbor>& full,
                           const std::vector<Neighbor>& stem,
                           const std::vector<double>& residual) {
  x[0] = clipped_logit(category_rate);
  x[1] = weighted_residual(full, residual);
  x[2] = weighted_residual(stem, residual);
  return x;
}

GainInputs gain_inputs(std::string_view prompt, double category_rate,
                       const std::vector<Neighbor>& full, const std::vector<Neighbor>& stem,
                       const std::vector<double>& residual, double category_median_qlen) {
  return gain_inputs_for(gain_shared_inputs(prompt, category_median_qlen), category_rate, full,
                         stem, residual);
}

GainRouter::GainRouter(std::vector<GainReference> references, Target strong, Target weak,
                       CategoryMedians medians)
    : refs_(std::move(references)),
      strong_(std::move(strong)),
      weak_(std::move(weak)),
      medians_(std::move(medians)) {
  std::vector<std::string> prompts, categories;
  prompts.reserve(refs_.size());
  categories.reserve(refs_.size());
  for (const auto& r : refs_) {
    prompts.emplace_back(gain_text(r.prompt));
    categories.push_back(r.category);
    residual_strong_.push_back(r.strong - strong_.rates.rate(r.category));
    residual_weak_.push_back(r.weak - weak_.rates.rate(r.category));
  }
  for (const auto& r : refs_) reference_prompts_.insert(gain_text(r.prompt));
  auto add_category = [this](const std::string& c) {
    by_category_.try_emplace(c, CategoryInputs{strong_.rates.rate(c), weak_.rates.rate(c),
                                               medians_.median(c)});
  };
  for (const auto& [c, rate] : strong_.rates.rates) add_category(c);
  for (const auto& [c, rate] : weak_.rates.rates) add_category(c);
  for (const auto& [c, median] : medians_.medians) add_category(c);
  neighborhoods_ = std::make_unique<GainNeighborhoods>(prompts, categories);
}

GainRouter::CategoryInputs GainRouter::category_inputs(std::string_view category) const {
  const auto it = by_category_.find(category);
  if (it != by_category_.end()) return it->second;
  return {strong_.rates.rate(category), weak_.rates.rate(category), medians_.median(category)};
}

std::pair<double, double> GainRouter::probabilities(std::string_view prompt,
                                                    std::string_view category) const {
  const std::string_view text = gain_text(prompt);
  std::vector<Neighbor> full, stem;
  neighborhoods_->search(text, category, kGainNeighborsFull, kGainNeighborsStem, {}, full, stem);
  const CategoryInputs c = category_inputs(category);
  const GainInputs shared = gain_shared_inputs(text, c.median_qlen);
  const double ps = strong_.model.probability(
      gain_inputs_for(shared, c.strong_rate, full, stem, residual_strong_));
  const double pw = weak_.model.probability(
      gain_inputs_for(shared, c.weak_rate, full, stem, residual_weak_));
  return {ps, pw};
}

namespace {

namespace json = boost::json;

const json::value& field(const json::object& o, std::string_view key, const std::string& path) {
  const json::value* v = o.if_contains(key);
  if (!v) throw std::invalid_argument(path + "." + std::string(key) + " is missing");
  return *v;
}

// ml::json_number, with the field's path in the error.
double number(const json::value& v, const std::string& path) {
  if (!v.is_number()) throw std::invalid_argument(path + " is not a number");
  return json_number(v);
}

std::vector<double> numbers(const json::value& v, const std::string& path, std::size_t n) {
  if (!v.is_array() || v.as_array().size() != n) {
    throw std::invalid_argument(path + " is not an array of " + std::to_string(n) + " numbers");
  }
  std::vector<double> out;
  for (const auto& x : v.as_array()) out.push_back(number(x, path));
  return out;
}

std::map<std::string, double, std::less<>> number_map(const json::value& v,
                                                      const std::string& path) {
  if (!v.is_object()) throw std::invalid_argument(path + " is not an object");
  std::map<std::string, double, std::less<>> out;
  for (const auto& [k, x] : v.as_object()) out[std::string(k)] = number(x, path);
  return out;
}

GainRouter::Target load_target(const json::object& gain, std::string_view name) {
  const std::string path = "router.gain." + std::string(name);
  const json::value& t = field(gain, name, "router.gain");
  if (!t.is_object()) throw std::invalid_argument(path + " is not an object");
  const json::object& o = t.as_object();
  GainRouter::Target out;
  out.rates.rates = number_map(field(o, "category_rates", path), path + ".category_rates");
  out.rates.prior = number(field(o, "prior", path), path + ".prior");
  out.model.mean = numbers(field(o, "mean", path), path + ".mean", kGainInputCount);
  out.model.sd = numbers(field(o, "sd", path), path + ".sd", kGainInputCount);
  out.model.weights = numbers(field(o, "weights", path), path + ".weights", kGainInputCount);
  out.model.bias = number(field(o, "bias", path), path + ".bias");
  for (double s : out.model.sd) {
    if (!(s > 0.0)) throw std::invalid_argument(path + ".sd has a value <= 0");
  }
  return out;
}

std::vector<GainReference> load_references(const json::object& gain,
                                           const std::string& model_path) {
  const json::value& r = field(gain, "references", "router.gain");
  if (!r.is_object()) throw std::invalid_argument("router.gain.references is not an object");
  const json::value& file = field(r.as_object(), "file", "router.gain.references");
  const json::value& sha = field(r.as_object(), "sha256", "router.gain.references");
  if (!file.is_string() || !sha.is_string()) {
    throw std::invalid_argument("router.gain.references.{file,sha256} must be strings");
  }
  const std::string path =
      (std::filesystem::path(model_path).parent_path() / std::string(file.as_string())).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::invalid_argument("the reference rows " + path +
                                " are missing (they are written next to the model by `triage "
                                "train router`)");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  if (sha256_hex(text) != sha.as_string()) {
    throw std::invalid_argument("the reference rows " + path +
                                " do not match router.gain.references.sha256 (retrain the router)");
  }
  std::vector<GainReference> refs;
  std::istringstream lines(text);
  std::string line;
  // Prompts are stored as they came, and a training file may hold bytes that are not UTF-8.
  json::parse_options opts;
  opts.allow_invalid_utf8 = true;
  std::size_t line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line.empty()) continue;
    const std::string where = path + ": line " + std::to_string(line_no);
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec, {}, opts);
    if (ec || !v.is_object()) throw std::invalid_argument(where + " is not a JSON object");
    const json::object& o = v.as_object();
    GainReference g;
    const json::value* p = o.if_contains("prompt");
    const json::value* c = o.if_contains("category");
    if (!p || !p->is_string() || !c || !c->is_string()) {
      throw std::invalid_argument(where + " needs string prompt and category");
    }
    g.prompt = std::string(p->as_string());
    g.category = std::string(c->as_string());
    g.strong = number(field(o, "strong", where), where + " strong");
    g.weak = number(field(o, "weak", where), where + " weak");
    refs.push_back(std::move(g));
  }
  if (refs.empty()) throw std::invalid_argument("the reference rows " + path + " are empty");
  return refs;
}

}  // namespace

std::shared_ptr<const GainRouter> load_gain_router(const json::object& gain,
                                                   const std::string& model_path) {
  const json::value& version = field(gain, "features_version", "router.gain");
  if (!version.is_string() || version.as_string() != kPromptFeaturesVersion) {
    throw std::invalid_argument("router.gain.features_version is not \"" +
                                std::string(kPromptFeaturesVersion) +
                                "\" (the model was trained with other prompt features; retrain it)");
  }
  const json::value& format = field(gain, "format", "router.gain");
  if (!format.is_string() || format.as_string() != kGainFormat) {
    throw std::invalid_argument("router.gain.format is not \"" + std::string(kGainFormat) +
                                "\" (retrain the router)");
  }
  const json::value& nb = field(gain, "neighbors", "router.gain");
  if (!nb.is_object() ||
      number(field(nb.as_object(), "prompt", "router.gain.neighbors"), "router.gain.neighbors.prompt") !=
          static_cast<double>(kGainNeighborsFull) ||
      number(field(nb.as_object(), "stem", "router.gain.neighbors"), "router.gain.neighbors.stem") !=
          static_cast<double>(kGainNeighborsStem) ||
      number(field(nb.as_object(), "postings_per_term", "router.gain.neighbors"),
             "router.gain.neighbors.postings_per_term") !=
          static_cast<double>(kGainPostingsPerTerm) ||
      number(field(gain, "max_prompt_bytes", "router.gain"), "router.gain.max_prompt_bytes") !=
          static_cast<double>(kGainMaxPromptBytes)) {
    throw std::invalid_argument(
        "router.gain.neighbors / max_prompt_bytes differ from this build's (retrain the router)");
  }
  GainRouter::Target strong = load_target(gain, "strong");
  GainRouter::Target weak = load_target(gain, "weak");
  CategoryMedians medians;
  medians.medians =
      number_map(field(gain, "question_length_medians", "router.gain"),
                 "router.gain.question_length_medians");
  medians.overall = number(field(gain, "question_length_median_overall", "router.gain"),
                           "router.gain.question_length_median_overall");
  return std::make_shared<const GainRouter>(load_references(gain, model_path), std::move(strong),
                                            std::move(weak), std::move(medians));
}

double GainRouter::score(std::string_view prompt, std::string_view category) const {
  const auto [ps, pw] = probabilities(prompt, category);
  return ps - pw;
}

}  // namespace triage::ml

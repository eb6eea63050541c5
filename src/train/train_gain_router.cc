#include "train/train_gain_router.h"

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <stdexcept>

#include "ml/fasttext_model.h"

namespace triage::train {

namespace {

namespace json = boost::json;

// Neighbours kept per row before excluding folds: with two of five folds excluded about 60%
// remain, comfortably more than the 50 stem neighbours used.
constexpr std::size_t kNeighborPool = 300;

using FoldMask = unsigned;  // bit f set: fold f excluded

// Rates, medians and residuals computed on the rows whose fold is not excluded.
struct Fitting {
  ml::SmoothedRates strong_rates, weak_rates;
  ml::CategoryMedians medians;
  std::vector<double> residual_strong, residual_weak;  // per row (used only for kept rows)
};

class CrossFit {
 public:
  CrossFit(const std::vector<GainTrainRow>& rows, int folds) : rows_(rows), folds_(folds) {
    std::vector<std::string> categories;
    for (const auto& r : rows_) {
      text_.emplace_back(ml::gain_text(r.prompt));
      qlen_.push_back(ml::question_length_log(text_.back()));
      categories.push_back(r.category);
    }
    // The served router searches the same neighbourhoods, built from the same rows.
    const ml::GainNeighborhoods neighborhoods(text_, categories);
    full_.resize(rows_.size());
    stem_.resize(rows_.size());
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      auto not_self = [i](std::size_t j) { return j == i; };
      neighborhoods.search(text_[i], rows_[i].category, kNeighborPool, kNeighborPool, not_self,
                            full_[i], stem_[i]);
    }
  }

  const Fitting& fitting(FoldMask excluded) {
    auto it = cache_.find(excluded);
    if (it != cache_.end()) return it->second;
    std::vector<std::string_view> cats;
    std::vector<double> ys, yw, q;
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      if (excluded & (1u << rows_[i].fold)) continue;
      cats.push_back(rows_[i].category);
      ys.push_back(rows_[i].strong);
      yw.push_back(rows_[i].weak);
      q.push_back(qlen_[i]);
    }
    Fitting f;
    f.strong_rates = ml::SmoothedRates::fit(cats, ys, ml::kGainCategorySmoothing);
    f.weak_rates = ml::SmoothedRates::fit(cats, yw, ml::kGainCategorySmoothing);
    f.medians = ml::CategoryMedians::fit(cats, q);
    for (const auto& r : rows_) {
      f.residual_strong.push_back(r.strong - f.strong_rates.rate(r.category));
      f.residual_weak.push_back(r.weak - f.weak_rates.rate(r.category));
    }
    return cache_.emplace(excluded, std::move(f)).first->second;
  }

  // Row i's inputs for both targets with `excluded` folds (and i itself) out of every fitting.
  std::pair<ml::GainInputs, ml::GainInputs> inputs(std::size_t i, FoldMask excluded) {
    const Fitting& f = fitting(excluded);
    const auto full = kept(full_[i], excluded, ml::kGainNeighborsFull);
    const auto stem = kept(stem_[i], excluded, ml::kGainNeighborsStem);
    const auto& r = rows_[i];
    const ml::GainInputs shared = ml::gain_shared_inputs(text_[i], f.medians.median(r.category));
    return {ml::gain_inputs_for(shared, f.strong_rates.rate(r.category), full, stem,
                                f.residual_strong),
            ml::gain_inputs_for(shared, f.weak_rates.rate(r.category), full, stem,
                                f.residual_weak)};
  }

 private:
  std::vector<ml::Neighbor> kept(const std::vector<ml::Neighbor>& pool, FoldMask excluded,
                                 std::size_t k) const {
    std::vector<ml::Neighbor> out;
    for (const auto& n : pool) {
      if (excluded & (1u << rows_[n.index].fold)) continue;
      out.push_back(n);
      if (out.size() == k) break;
    }
    return out;
  }

  const std::vector<GainTrainRow>& rows_;
  int folds_;
  std::vector<double> qlen_;
  std::vector<std::string> text_;  // gain_text of each prompt
  std::vector<std::vector<ml::Neighbor>> full_, stem_;
  std::map<FoldMask, Fitting> cache_;
};

json::object target_json(const ml::GainRouter::Target& t) {
  json::object rates;
  for (const auto& [c, v] : t.rates.rates) rates[c] = v;
  auto arr = [](const std::vector<double>& v) {
    json::array a;
    for (double x : v) a.emplace_back(x);
    return a;
  };
  return json::object{{"category_rates", std::move(rates)}, {"prior", t.rates.prior},
                      {"mean", arr(t.model.mean)},       {"sd", arr(t.model.sd)},
                      {"weights", arr(t.model.weights)}, {"bias", t.model.bias}};
}

}  // namespace

GainTrainResult train_gain_router(const std::vector<GainTrainRow>& rows, int folds) {
  // With 2 folds the nested estimate would exclude every fold from a training row's inputs.
  if (folds < 3 || folds > 16) throw ml::ModelError("gain router: folds must be 3..16");
  CrossFit cf(rows, folds);
  GainTrainResult out;
  out.cv_scores.assign(rows.size(), 0.0);
  // Nested selection estimate.
  for (int f = 0; f < folds; ++f) {
    std::vector<ml::GainInputs> xs, xw;
    std::vector<double> ys, yw;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].fold == f) continue;
      auto [s, w] = cf.inputs(i, (1u << f) | (1u << rows[i].fold));
      xs.push_back(s);
      xw.push_back(w);
      ys.push_back(rows[i].strong);
      yw.push_back(rows[i].weak);
    }
    const auto ms = ml::LinearProbability::fit(xs, ys);
    const auto mw = ml::LinearProbability::fit(xw, yw);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].fold != f) continue;
      auto [s, w] = cf.inputs(i, 1u << f);
      out.cv_scores[i] = ms.probability(s) - mw.probability(w);
    }
  }
  // The served regressions: every row's out-of-fold inputs.
  std::vector<ml::GainInputs> xs, xw;
  std::vector<double> ys, yw;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto [s, w] = cf.inputs(i, 1u << rows[i].fold);
    xs.push_back(s);
    xw.push_back(w);
    ys.push_back(rows[i].strong);
    yw.push_back(rows[i].weak);
  }
  const Fitting& all = cf.fitting(0);
  out.strong = {all.strong_rates, ml::LinearProbability::fit(xs, ys)};
  out.weak = {all.weak_rates, ml::LinearProbability::fit(xw, yw)};
  out.medians = all.medians;
  return out;
}

json::object gain_metadata(const GainTrainResult& r, const std::string& references_file,
                           const std::string& references_sha256, std::size_t n_refs) {
  json::array names;
  for (const auto& n : ml::gain_input_names()) names.emplace_back(n);
  json::object medians;
  for (const auto& [c, v] : r.medians.medians) medians[c] = v;
  return json::object{
      {"format", ml::kGainFormat},
      {"max_prompt_bytes", ml::kGainMaxPromptBytes},
      {"score", "P(strong right) - P(weak right)"},
      {"features_version", ml::kPromptFeaturesVersion},
      {"inputs", std::move(names)},
      {"neighbors", json::object{{"within", "category"},
                                 {"prompt", ml::kGainNeighborsFull},
                                 {"stem", ml::kGainNeighborsStem},
                                 {"postings_per_term", ml::kGainPostingsPerTerm}}},
      {"category_smoothing", ml::kGainCategorySmoothing},
      {"ridge", ml::kGainRidge},
      {"strong", target_json(r.strong)},
      {"weak", target_json(r.weak)},
      {"question_length_medians", std::move(medians)},
      {"question_length_median_overall", r.medians.overall},
      {"references", json::object{{"file", references_file},
                                  {"sha256", references_sha256},
                                  {"rows", n_refs}}}};
}

void write_gain_references(const std::string& path, const std::vector<GainTrainRow>& rows) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  for (const auto& r : rows) {
    out << json::serialize(json::object{{"prompt", r.prompt},
                                        {"category", r.category},
                                        {"strong", r.strong},
                                        {"weak", r.weak}})
        << "\n";
  }
  if (!out) throw ml::ModelError("cannot write " + path);
}

}  // namespace triage::train

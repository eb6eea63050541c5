#include "ml/threshold_scorer.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>

#include "ml/logistic.h"
#include "ml/model_metadata.h"
#include "ml/text.h"

namespace triage::ml {

namespace {

const boost::json::value* member(const boost::json::object& o, std::string_view key) {
  return o.if_contains(key);
}

}  // namespace

std::string router_feature_text(std::string_view prompt, std::string_view category,
                                bool use_category) {
  std::string out;
  if (use_category && !category.empty()) {
    out = "zzcat";
    for (char c : category) {
      unsigned char u = static_cast<unsigned char>(c);
      if (std::isalnum(u)) out.push_back(static_cast<char>(std::tolower(u)));
    }
    out.push_back(' ');
  }
  out.append(prompt);
  return out;
}

double platt(double p, double a, double b) {
  const double z = a * logit(p) + b;
  return 1.0 / (1.0 + std::exp(-z));
}

std::shared_ptr<const ThresholdScorer> ThresholdScorer::load(const std::string& model_path) {
  auto s = std::make_shared<ThresholdScorer>();
  s->path_ = model_path;
  s->model_ = FastTextModel::load(model_path);  // throws ModelError naming the path
  const std::string meta_path = metadata_path_for(model_path);
  const boost::json::object router = read_metadata_block(
      model_path, {"router", "router", "scorer", "a router scorer", "triage train router"});
  s->version_ = router_version(router);
  try {
    const auto* label = member(router, "positive_label");
    if (!label || !label->is_string()) throw std::invalid_argument("router.positive_label");
    s->positive_label_ = std::string(label->as_string());
    const auto* features = member(router, "features");
    if (!features || !features->is_string()) throw std::invalid_argument("router.features");
    if (features->as_string() == "category+prompt") {
      s->use_category_ = true;
    } else if (features->as_string() != "prompt") {
      throw std::invalid_argument("router.features (expected \"prompt\" or \"category+prompt\")");
    }
    if (const auto* cal = member(router, "calibration"); cal && cal->is_object()) {
      const auto& c = cal->as_object();
      const auto* a = member(c, "a");
      const auto* b = member(c, "b");
      if (!a || !b) throw std::invalid_argument("router.calibration.{a,b}");
      s->platt_a_ = json_number(*a);
      s->platt_b_ = json_number(*b);
      if (const auto* cw = member(c, "c")) s->category_weight_ = json_number(*cw);
    }
    if (const auto* cr = member(router, "category_rates"); cr && cr->is_object()) {
      for (const auto& [k, v] : cr->as_object()) {
        s->category_rates_[std::string(k)] = json_number(v);
      }
      const auto* prior = member(router, "category_prior");
      if (!prior) throw std::invalid_argument("router.category_prior");
      s->category_prior_ = json_number(*prior);
    } else if (s->category_weight_ != 0.0) {
      throw std::invalid_argument("router.calibration.c without router.category_rates");
    }
    if (const auto* g = member(router, "gain"); g && g->is_object()) {
      s->gain_ = load_gain_router(g->as_object(), model_path);
    } else if (const auto* kind = member(router, "scorer");
               kind && kind->is_string() && kind->as_string() == "gain") {
      throw std::invalid_argument("router.scorer is \"gain\" but router.gain is missing");
    }
    if (const auto* vs = member(router, "validation_scores"); vs && vs->is_array()) {
      for (const auto& x : vs->as_array()) s->validation_scores_.push_back(json_number(x));
    }
  } catch (const std::exception& e) {
    throw ModelError(meta_path + ": bad router metadata: " + e.what());
  }
  require_positive_label(*s->model_, s->positive_label_, model_path, "router");
  return s;
}

double ThresholdScorer::raw_score(std::string_view prompt, std::string_view category) const {
  const std::string text = router_feature_text(model_text(prompt), category, use_category_);
  return label_probability(*model_, text, positive_label_, /*if_no_prediction=*/0.5);
}

double ThresholdScorer::category_rate(std::string_view category) const {
  auto it = category_rates_.find(category);
  return it == category_rates_.end() ? category_prior_ : it->second;
}

double ThresholdScorer::score(std::string_view prompt, std::string_view category) const {
  if (gain_) return gain_->score(prompt, category);  // reads gain_text(prompt)
  double b = platt_b_;
  if (category_weight_ != 0.0) {
    b += category_weight_ * logit(category_rate(category));
  }
  return platt(raw_score(prompt, category), platt_a_, b);
}

double threshold_for_share(std::vector<double> scores, double share) {
  if (scores.empty()) return 0.5;
  std::sort(scores.begin(), scores.end(), std::greater<>());
  share = std::clamp(share, 0.0, 1.0);
  const auto k = static_cast<std::size_t>(std::llround(share * static_cast<double>(scores.size())));
  if (k == 0) return scores.front();
  if (k >= scores.size()) return -1.0;
  return scores[k];  // the top k are > scores[k] unless they tie with it
}

}  // namespace triage::ml

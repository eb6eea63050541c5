#include "ml/score_predictor.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <filesystem>

#include "ml/logistic.h"
#include "ml/model_metadata.h"
#include "ml/text.h"

namespace triage::ml {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kPositive = "ok";

}  // namespace

std::string multi_feature_text(std::string_view prompt) {
  std::string_view p = prompt;
  while (!p.empty() && (p.back() == '\n' || p.back() == ' ' || p.back() == '\r')) p.remove_suffix(1);
  const auto cut = p.rfind("\n\n");
  std::string_view last = cut == std::string_view::npos ? p : p.substr(cut + 2);
  while (!last.empty() && (last.front() == '\n' || last.front() == ' ')) last.remove_prefix(1);
  return std::string(last.empty() ? prompt : last);
}

double ScorePredictor::positive(const FastTextModel& m, const FastTextInput& text) {
  // Empty text: no evidence either way.
  return m.label_probability(text, kPositive, /*if_no_prediction=*/0.5);
}

std::shared_ptr<const ScorePredictor> ScorePredictor::load(const std::string& path) {
  auto s = std::make_shared<ScorePredictor>();
  s->path_ = path;
  s->shared_ = FastTextModel::load(path);  // throws ModelError naming the path
  const std::string meta_path = metadata_path_for(path);
  const json::object block =
      read_metadata_block(path, {"multi_router", "multi-router", "predictor",
                                     "a multi-model predictor", "triage train multi-router"});
  const fs::path dir = fs::path(path).parent_path();
  try {
    const auto* models = block.if_contains("models");
    if (!models || !models->is_array() || models->as_array().empty()) {
      throw std::invalid_argument("multi_router.models (a non-empty list)");
    }
    for (const auto& mv : models->as_array()) {
      const auto& m = mv.as_object();
      ModelCalibration mc;
      mc.name = std::string(m.at("name").as_string());
      const auto& cal = m.at("calibration").as_object();
      mc.a = json_number(cal.at("a"));
      mc.c = json_number(cal.at("c"));
      mc.b = json_number(cal.at("b"));
      if (const auto* f = m.if_contains("file"); f && f->is_string()) {
        const std::string file = (dir / std::string(f->as_string())).string();
        mc.own = FastTextModel::load(file);
        const auto& labels = mc.own->labels();
        if (std::find(labels.begin(), labels.end(), kPositive) == labels.end() && mc.a != 0.0) {
          throw std::invalid_argument(file + " has no label \"ok\"");
        }
      } else if (mc.a != 0.0) {
        throw std::invalid_argument("model " + mc.name + " has a != 0 but no file");
      }
      s->models_.push_back(std::move(mc));
    }
  } catch (const ModelError& e) {
    throw ModelError(meta_path + ": " + e.what());
  } catch (const std::exception& e) {
    throw ModelError(meta_path + ": bad multi_router metadata: " + e.what());
  }
  return s;
}

double ScorePredictor::shared_raw(std::string_view prompt) const {
  return positive(*shared_, FastTextInput(multi_feature_text(prompt)));
}

std::vector<double> ScorePredictor::predict(std::string_view prompt) const {
  // Tokenised once for every model (and words looked up once per distinct vocabulary).
  const FastTextInput text(multi_feature_text(model_text(prompt)));
  const double shared = logit(positive(*shared_, text));
  std::vector<double> out;
  out.reserve(models_.size());
  for (const auto& m : models_) {
    double z = m.b + m.c * shared;
    if (m.own && m.a != 0.0) z += m.a * logit(positive(*m.own, text));
    out.push_back(1.0 / (1.0 + std::exp(-z)));
  }
  return out;
}

std::optional<std::size_t> ScorePredictor::index_of(std::string_view model) const {
  for (std::size_t i = 0; i < models_.size(); ++i) {
    if (models_[i].name == model) return i;
  }
  return std::nullopt;
}

}  // namespace triage::ml

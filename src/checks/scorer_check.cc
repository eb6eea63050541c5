#include "checks/scorer_check.h"

#include <cstdio>
#include <filesystem>


namespace triage::checks {

routes::Verdict ScorerCheck::evaluate(const core::ChatRequest& req,
                                      const core::Completion& answer) const {
  const double p = scorer_->score(req.last_user_text(), answer.content);
  const double t = threshold();
  char buf[96];
  const bool pass = p >= t;
  std::snprintf(buf, sizeof buf, "P(acceptable)=%.3f %s %.3f", p, pass ? ">=" : "<", t);
  return routes::Verdict{pass, p, buf};
}

std::unique_ptr<routes::Check> make_scorer_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "model", "threshold"});
  config::Field model_field = cfg["model"];
  std::filesystem::path path = model_field.as<std::string>();
  if (path.is_relative() && !cfg.file().empty()) {
    path = std::filesystem::path(cfg.file()).parent_path() / path;
  }
  std::shared_ptr<const ml::AnswerScorer> scorer;
  try {
    scorer = ml::AnswerScorer::load(path.lexically_normal().string());
  } catch (const ml::ModelError& e) {
    model_field.fail(e.what());
  }
  const double t = cfg["threshold"].get<double>(0.5, config::Range::between(0, 1));
  return std::make_unique<ScorerCheck>(std::move(scorer), t);
}

}  // namespace triage::checks

// Decider implementations of the routes with a pure decision. Kept here so that the routes'
// own files only gain a declaration; each one repeats exactly the decision its run() makes.
#include "routes/decider.h"

#include <cstdio>

#include "routes/classify_route.h"
#include "routes/multi_route.h"
#include "routes/rules.h"
#include "routes/threshold_route.h"

namespace triage::routes {

namespace {

std::string fmt3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

RouteDecision ThresholdRoute::decide_request(const core::ChatRequest& req) const {
  const double p = score(req);
  const double t = threshold();
  const bool strong = decide(p, t) == Choice::kStrong;
  return {strong ? strong_.name() : weak_.name(),
          std::string(strong ? "strong" : "weak") + ", p=" + fmt3(p) + ", t=" + fmt3(t),
          scorer_->version()};
}

RouteDecision ClassifyRoute::decide_request(const core::ChatRequest& req) const {
  const ClassifyDecision d = decide(req.last_user_text());
  std::string detail = "label=" + (d.label.empty() ? std::string("(none)") : d.label) +
                       ", p=" + fmt3(d.confidence) + ", band=" + std::string(band_name(d.band));
  if (d.escalated) detail += ", escalated";
  return {d.chosen ? d.chosen->name() : std::string(), std::move(detail)};
}

RouteDecision RulesRoute::decide_request(const core::ChatRequest& req) const {
  const int d = decide(req);
  std::string detail = d < 0 ? std::string("default") : rules_[static_cast<size_t>(d)].name;
  return {target(d).name(), std::move(detail)};
}

RouteDecision PredictRoute::decide_request(const core::ChatRequest& req) const {
  const std::vector<Option> opts = options(req);
  if (opts.empty()) return {};
  const double b = bar();
  const std::size_t pick = decide(opts, b);
  return {candidates_[pick].model, "score=" + fmt3(opts[pick].score) + ", bar=" + fmt3(b)};
}

}  // namespace triage::routes

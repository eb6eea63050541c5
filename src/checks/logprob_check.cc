#include "checks/logprob_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace triage::checks {

routes::Verdict LogprobCheck::evaluate(const core::ChatRequest&,
                                       const core::Completion& answer) const {
  const auto& lps = answer.token_logprobs;
  if (lps.empty()) return routes::Verdict{pass_when_missing_, 0.5, "no logprobs from provider"};
  double p = aggregate_ == LogprobAggregate::kMin ? 1.0 : 0.0;
  for (double lp : lps) {
    const double prob = std::exp(std::min(lp, 0.0));
    p = aggregate_ == LogprobAggregate::kMin ? std::min(p, prob) : p + prob;
  }
  if (aggregate_ == LogprobAggregate::kMean) p /= static_cast<double>(lps.size());
  const double t = knob_.get();
  const bool pass = p >= t;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s token probability %.3f %s %.3f over %zu tokens",
                aggregate_ == LogprobAggregate::kMin ? "min" : "mean", p, pass ? ">=" : "<", t,
                lps.size());
  return routes::Verdict{pass, p, buf};
}

std::unique_ptr<routes::Check> make_logprob_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "threshold", "aggregate", "missing"});
  const double t = cfg["threshold"].get<double>(0.5, config::Range::between(0, 1));
  const std::string agg = cfg["aggregate"].one_of({"mean", "min"}, "mean");
  const std::string missing = cfg["missing"].one_of({"pass", "fail"}, "pass");
  return std::make_unique<LogprobCheck>(
      t, agg == "min" ? LogprobAggregate::kMin : LogprobAggregate::kMean, missing == "pass");
}

}  // namespace triage::checks

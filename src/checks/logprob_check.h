#pragma once
// `logprob`: the model's own confidence, from the token logprobs the provider returned.
//
//   checks:
//     - type: logprob
//       threshold: 0.7       # pass when the aggregated token probability >= threshold (knob)
//       aggregate: mean      # mean | min of the per-token probabilities exp(logprob)
//       missing: pass        # pass | fail when the provider returned no logprobs (default pass)
//
// Logprobs come from core::Completion::token_logprobs (the openai provider fills it when the
// upstream returns choices[0].logprobs.content). A cascade step with this check asks its
// upstream for them (`logprobs: true` added to the step's request; the client's response is
// unchanged); streamed final steps and providers without logprobs (anthropic, replay, local)
// give none. Without them the check passes (or fails, with `missing: fail`) with reason
// "no logprobs from provider" and score 0.5. Score: the aggregated probability.
//
// Threading: built once; the threshold is an atomic knob.
#include <memory>

#include "checks/check_util.h"
#include "checks/rule_checks.h"

namespace triage::checks {

enum class LogprobAggregate { kMean, kMin };

class LogprobCheck final : public SyncCheck, public routes::Tunable {
 public:
  LogprobCheck(double threshold, LogprobAggregate aggregate, bool pass_when_missing)
      : knob_("logprob/1 threshold", threshold, {0.0, 1.0 + 1e-9}),
        aggregate_(aggregate),
        pass_when_missing_(pass_when_missing) {}
  std::string_view name() const override { return "logprob/1"; }
  bool needs_logprobs() const override { return true; }
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;
  std::vector<routes::Knob*> knobs() override { return {&knob_}; }
  ThresholdKnob& threshold() { return knob_; }

 private:
  ThresholdKnob knob_;
  const LogprobAggregate aggregate_;
  const bool pass_when_missing_;
};

// Factory for `type: logprob` (keys: threshold, aggregate, missing).
std::unique_ptr<routes::Check> make_logprob_check(config::MapReader& cfg, const routes::CheckContext& ctx);

}  // namespace triage::checks

#pragma once
// `arithmetic`: recomputes the arithmetic an answer states ("16 - 3 = 13", "2 * 4.5 = 9",
// GSM8K calculator notes "<<5/2=2.5>>", "$80,000 + $50,000 = $130,000") and fails on a wrong
// step, quoting it. Catches the commonest failure of small models on word problems: a correct
// plan with a slipped computation.
//
// What counts as a step: see ml/arithmetic.h.
#include "checks/rule_checks.h"
#include "ml/arithmetic.h"

namespace triage::checks {

struct ArithmeticOptions {
  int64_t max_wrong = 0;       // more wrong steps than this fails
  int64_t min_steps = 0;       // fewer checked steps than this fails (0: no arithmetic passes)
  double rel_tolerance = 1e-6; // accepted relative difference beyond stated-precision rounding
};

class ArithmeticCheck final : public SyncCheck {
 public:
  explicit ArithmeticCheck(ArithmeticOptions o) : o_(o) {}
  std::string_view name() const override { return "arithmetic/1"; }
  // Score: the share of checked steps that are right (1 when none were found).
  routes::Verdict evaluate(const core::ChatRequest& req,
                           const core::Completion& answer) const override;

 private:
  ArithmeticOptions o_;
};

std::unique_ptr<routes::Check> make_arithmetic_check(config::MapReader& cfg, const routes::CheckContext& ctx);

}  // namespace triage::checks

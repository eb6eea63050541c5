#include "checks/arithmetic.h"

#include <cstdio>

namespace triage::checks {

using ml::ArithmeticStep;
using ml::find_arithmetic;
using routes::Verdict;

Verdict ArithmeticCheck::evaluate(const core::ChatRequest&, const core::Completion& a) const {
  const auto steps = find_arithmetic(a.content, o_.rel_tolerance);
  int64_t wrong = 0;
  const ArithmeticStep* first_wrong = nullptr;
  for (const auto& s : steps) {
    if (!s.ok) {
      ++wrong;
      if (!first_wrong) first_wrong = &s;
    }
  }
  const auto n = static_cast<int64_t>(steps.size());
  Verdict v;
  v.score = n == 0 ? 1.0 : static_cast<double>(n - wrong) / static_cast<double>(n);
  if (wrong > o_.max_wrong) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", first_wrong->computed);
    v.pass = false;
    v.reason = "wrong step '" + first_wrong->text + "' (left side is " + buf + "); " +
               std::to_string(wrong) + " of " + std::to_string(n) + " steps wrong";
    return v;
  }
  if (n < o_.min_steps) {
    v.pass = false;
    v.reason = "only " + std::to_string(n) + " arithmetic steps, min_steps is " +
               std::to_string(o_.min_steps);
    return v;
  }
  v.pass = true;
  v.reason = n == 0 ? "no arithmetic to check"
                    : std::to_string(n - wrong) + " of " + std::to_string(n) + " steps consistent";
  return v;
}

std::unique_ptr<routes::Check> make_arithmetic_check(config::MapReader& cfg, const routes::CheckContext& /*ctx*/) {
  cfg.only({"type", "max_wrong", "min_steps", "rel_tolerance"});
  ArithmeticOptions o;
  o.max_wrong = cfg["max_wrong"].get<int64_t>(0, config::Range::at_least(0));
  o.min_steps = cfg["min_steps"].get<int64_t>(0, config::Range::at_least(0));
  o.rel_tolerance = cfg["rel_tolerance"].get<double>(1e-6, config::Range::between(0, 0.5));
  return std::make_unique<ArithmeticCheck>(o);
}

}  // namespace triage::checks

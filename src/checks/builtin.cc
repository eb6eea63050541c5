#include "checks/builtin.h"

#include <mutex>

#include "checks/arithmetic.h"
#include "checks/json_check.h"
#include "checks/rule_checks.h"
#include "checks/scorer_check.h"

namespace triage::checks {

void register_builtin_checks() {
  static std::once_flag once;
  std::call_once(once, [] {
    routes::CheckRegistry::add("non_empty", make_non_empty_check);
    routes::CheckRegistry::add("length", make_length_check);
    routes::CheckRegistry::add("regex", make_regex_check);
    routes::CheckRegistry::add("json", make_json_check);
    routes::CheckRegistry::add("refusal", make_refusal_check);
    routes::CheckRegistry::add("final_answer", make_final_answer_check);
    routes::CheckRegistry::add("arithmetic", make_arithmetic_check);
    routes::CheckRegistry::add("scorer", make_scorer_check);
  });
}

}  // namespace triage::checks

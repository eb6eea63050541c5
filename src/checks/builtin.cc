#include "checks/builtin.h"

#include <mutex>

#include "checks/agreement_check.h"
#include "checks/arithmetic.h"
#include "checks/json_check.h"
#include "checks/logprob_check.h"
#include "checks/rule_checks.h"
#include "checks/scorer_check.h"
#include "checks/similarity_check.h"
#include "checks/verifier_check.h"

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
    routes::CheckRegistry::add("verifier", make_verifier_check);
    routes::CheckRegistry::add("agreement", make_agreement_check);
    routes::CheckRegistry::add("similarity", make_similarity_check);
    routes::CheckRegistry::add("logprob", make_logprob_check);
  });
}

}  // namespace triage::checks

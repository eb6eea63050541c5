#pragma once
// Registers every check kind of this module with routes::CheckRegistry under its `type:` name:
// non_empty, length, regex, json, refusal, final_answer, arithmetic, scorer. Call once at
// start-up, before building a route table whose routes use checks (idempotent).
namespace triage::checks {

void register_builtin_checks();

}  // namespace triage::checks

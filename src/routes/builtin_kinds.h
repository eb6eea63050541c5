#pragma once
// Registers the route kinds `rules`, `fallback` and `cascade` with RouteTable (idempotent).
// Call at start-up before RouteTable::build(). Cascades build their checks through
// CheckRegistry, so also call checks::register_builtin_checks() (checks/builtin.h).
namespace triage::routes {

void register_rules_fallback_cascade_kinds();

}  // namespace triage::routes

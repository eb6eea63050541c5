#include "engine/builtins.h"

#include "checks/builtin.h"
#include "routes/builtin_kinds.h"
#include "routes/threshold_route.h"

namespace triage::engine {

void register_route_kinds_and_checks() {
  routes::register_rules_fallback_cascade_kinds();
  routes::register_threshold_kind();
  checks::register_builtin_checks();
}

void register_builtins(providers::ProviderRegistry& providers) {
  register_route_kinds_and_checks();
  providers::register_builtin_providers(providers);
}

}  // namespace triage::engine

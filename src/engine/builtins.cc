#include "engine/builtins.h"

#include "checks/builtin.h"
#include "routes/builtin_kinds.h"
#include "routes/classify_route.h"
#include "routes/ensemble.h"
#include "routes/multi_route.h"
#include "routes/pipeline.h"
#include "routes/retrieve.h"
#include "routes/shadow_route.h"
#include "routes/split_route.h"
#include "routes/threshold_route.h"

namespace triage::engine {

void register_route_kinds_and_checks() {
  routes::register_rules_fallback_cascade_kinds();
  routes::register_threshold_kind();
  routes::register_classify_kind();
  routes::register_predict_kind();
  routes::register_ensemble_kind();
  routes::register_pipeline_kind();
  routes::register_retrieve_kind();
  routes::register_split_kind();
  routes::register_shadow_kind();
  checks::register_builtin_checks();
}

void register_builtins(providers::ProviderRegistry& providers) {
  register_route_kinds_and_checks();
  providers::register_builtin_providers(providers);
}

config::Config load_config(const std::string& path) {
  providers::ProviderRegistry builtin;
  providers::register_builtin_providers(builtin);
  return config::load_config(path, &builtin);
}

}  // namespace triage::engine

#pragma once
// One call that makes every built-in extension available: providers, route kinds and checks.
// `triage serve` and `triage eval` both use it, so both run exactly the same engine.
#include <string>

#include "config/config.h"
#include "providers/provider.h"

namespace triage::engine {

// Registers the built-in route kinds and checks (process-wide, idempotent) and the built-in
// providers into `providers`. Call at start-up, before RouteTable::build().
void register_builtins(providers::ProviderRegistry& providers);

// Only the route kinds and checks (for callers that build their own provider registry).
void register_route_kinds_and_checks();

// Loads a config file, checking every model against the built-in providers (their names, their
// options blocks, their rules about endpoint/api_key_env): config::load_config() with their
// catalog. What `serve` and `eval` load with. Throws config::ConfigError.
config::Config load_config(const std::string& path);

}  // namespace triage::engine

#pragma once
// A config and the engine it builds (providers, route tree): what `serve` runs each config
// version on (server/serving.h) and what `triage config validate` checks, built the same way.
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "providers/provider.h"
#include "routes/route_table.h"

namespace triage::engine {

// Not movable: the route table refers into `cfg` and `providers`.
struct BuiltConfig {
  config::Config cfg;
  providers::ProviderRegistry providers;
  std::unique_ptr<routes::RouteTable> routes;

  BuiltConfig() = default;
  BuiltConfig(const BuiltConfig&) = delete;
  BuiltConfig& operator=(const BuiltConfig&) = delete;
};

// Changes made to a config after it is parsed (the command line's --listen, --store).
using ConfigAdjust = std::function<void(config::Config&)>;

// Parses `yaml_text` as the file `path` against the built-in providers (engine::load_config's
// checks), applies `adjust`, then builds the providers and the route tree (trained models are
// loaded, keys' env vars read through `env`). Throws config::ConfigError ("FILE:LINE: PATH:
// message") or std::runtime_error, exactly as `serve` fails at start-up.
std::unique_ptr<BuiltConfig> build_config(const std::string& yaml_text, const std::string& path,
                                          const providers::EnvLookup& env,
                                          const ConfigAdjust& adjust = {});
// The same from a parsed config.
std::unique_ptr<BuiltConfig> build_config(config::Config cfg, const providers::EnvLookup& env);

}  // namespace triage::engine

#include "engine/built_config.h"

#include "engine/builtins.h"

namespace triage::engine {

std::unique_ptr<BuiltConfig> build_config(const std::string& yaml_text, const std::string& path,
                                          const providers::EnvLookup& env,
                                          const ConfigAdjust& adjust) {
  providers::ProviderRegistry catalog;
  providers::register_builtin_providers(catalog);
  config::Config cfg = config::parse_config(yaml_text, path, &catalog);
  if (adjust) adjust(cfg);
  return build_config(std::move(cfg), env);
}

std::unique_ptr<BuiltConfig> build_config(config::Config cfg, const providers::EnvLookup& env) {
  auto built = std::make_unique<BuiltConfig>();
  built->cfg = std::move(cfg);
  register_builtins(built->providers);
  built->routes = routes::RouteTable::build(built->cfg, built->providers, env);
  return built;
}

}  // namespace triage::engine

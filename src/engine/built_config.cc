#include "engine/built_config.h"

#include <fmt/format.h>

#include "config/yaml_util.h"
#include "engine/builtins.h"
#include "routes/knob.h"

namespace triage::engine {

namespace {

// Each SLO action names a knob of the built route, and its `toward` is in the knob's range
// (config/slo_config.h): checked here because knobs exist only once the routes are built.
void check_slo_knobs(const config::Config& cfg, routes::RouteTable& table) {
  for (const config::Slo& slo : cfg.slos) {
    if (!slo.action) continue;
    const std::string at = slo.path + ".action";
    routes::Route* route = table.find(slo.action->route);
    std::vector<std::string> names;
    routes::Knob* knob = nullptr;
    if (route) {
      for (routes::Knob* k : routes::knobs_of(*route)) {
        names.emplace_back(k->name());
        if (k->name() == slo.action->knob) knob = k;
      }
    }
    if (!knob) {
      config::fail_at(cfg.path, slo.line, at + ".knob",
                      "route '" + slo.action->route + "' has no knob '" + slo.action->knob + "'" +
                          (names.empty() ? std::string(" (it has no knobs)")
                                         : config::suggest(slo.action->knob, names)));
    }
    const auto [lo, hi] = knob->range();
    if (!(slo.action->toward >= lo && slo.action->toward <= hi)) {
      config::fail_at(cfg.path, slo.line, at + ".toward",
                      fmt::format("{} is outside the knob's range [{}, {}]", slo.action->toward,
                                  lo, hi));
    }
  }
}

}  // namespace

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
  check_slo_knobs(built->cfg, *built->routes);
  return built;
}

}  // namespace triage::engine

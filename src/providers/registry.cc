#include "providers/anthropic.h"
#include "providers/local.h"
#include "providers/openai.h"
#include "providers/provider.h"
#include "providers/replay.h"

namespace triage::providers {

void ProviderRegistry::add(std::string name, ProviderFactory factory) {
  factories_[std::move(name)] = std::move(factory);
}

const ProviderFactory* ProviderRegistry::find(std::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::unique_ptr<ModelClient> ProviderRegistry::create(const config::Config& cfg,
                                                      const config::Model& model,
                                                      const EnvLookup& env) const {
  const ProviderFactory* f = find(model.provider);
  if (!f) {
    std::string known;
    for (const auto& [name, unused] : factories_) known += (known.empty() ? "" : ", ") + name;
    throw config::ConfigError(cfg.path + ":" + std::to_string(model.line) + ": model '" +
                              model.name + "': unknown provider '" + model.provider +
                              "' (known: " + known + ")");
  }
  return (*f)(cfg, model, env);
}

void register_builtin_providers(ProviderRegistry& registry) {
  registry.add("openai", make_openai_client);
  registry.add("anthropic", make_anthropic_client);
  registry.add("replay", make_replay_client);
  registry.add("local", make_local_client);
}

}  // namespace triage::providers

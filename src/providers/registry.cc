#include "providers/anthropic.h"
#include "providers/local.h"
#include "providers/openai.h"
#include "providers/provider.h"
#include "providers/provider_config.h"
#include "providers/replay.h"

namespace triage::providers {

const ProviderRegistry::Entry* ProviderRegistry::entry(std::string_view name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

ProviderRegistry::Entry& ProviderRegistry::entry_for(std::string name) {
  for (Entry& e : entries_)
    if (e.name == name) return e;
  return entries_.emplace_back(Entry{std::move(name), {}});
}

void ProviderRegistry::add(std::string name, ProviderType type) {
  entry_for(std::move(name)).type = std::move(type);
}

void ProviderRegistry::add(std::string name, ProviderFactory factory) {
  entry_for(std::move(name)).type.create = std::move(factory);
}

const ProviderFactory* ProviderRegistry::find(std::string_view name) const {
  const Entry* e = entry(name);
  return e ? &e->type.create : nullptr;
}

std::vector<std::string> ProviderRegistry::provider_names() const {
  std::vector<std::string> names;
  for (const Entry& e : entries_) names.push_back(e.name);
  return names;
}

void ProviderRegistry::check_model(const config::Config& cfg, const config::Model& model) const {
  const Entry* e = entry(model.provider);
  if (!e) {
    // The same message as the loader's (config::Field::one_of), for configs loaded without
    // this catalog.
    std::string known;
    for (const Entry& k : entries_) known += (known.empty() ? "" : ", ") + k.name;
    declaration(cfg, model)["provider"].fail("unknown provider '" + model.provider +
                                             "' (known: " + known + ")");
  }
  if (e->type.check) e->type.check(cfg, model);
}

std::unique_ptr<ModelClient> ProviderRegistry::create(const config::Config& cfg,
                                                      const config::Model& model,
                                                      const EnvLookup& env) const {
  check_model(cfg, model);
  return entry(model.provider)->type.create(cfg, model, env);
}

void register_builtin_providers(ProviderRegistry& registry) {
  registry.add("openai", openai_provider());
  registry.add("anthropic", anthropic_provider());
  registry.add("replay", replay_provider());
  registry.add("local", local_provider());
}

}  // namespace triage::providers

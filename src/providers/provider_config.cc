#include "providers/provider_config.h"

#include <string>

namespace triage::providers {

config::Field options_field(const config::Config& cfg, const config::Model& model) {
  const config::YamlBlock& b = model.options;
  return config::Field(b.node, b.path.empty() ? model.provider : b.path, cfg.path,
                       b.line > 0 ? b.line : model.line);
}

config::MapReader declaration(const config::Config& cfg, const config::Model& model) {
  return config::MapReader(model.declaration.node, model.declaration.path, cfg.path, model.line);
}

void require_endpoint(const config::Config& cfg, const config::Model& model,
                      std::string_view example_url) {
  if (!model.endpoint.empty()) return;
  declaration(cfg, model)["endpoint"].fail("missing required field 'endpoint': provider '" +
                                           model.provider + "' needs the base URL, e.g. " +
                                           std::string(example_url));
}

void refuse_endpoint_and_key(const config::Config& cfg, const config::Model& model) {
  if (!model.endpoint.empty()) {
    declaration(cfg, model)["endpoint"].fail("provider '" + model.provider +
                                             "' does not call a URL; remove 'endpoint'");
  }
  if (!model.api_key_env.empty()) {
    declaration(cfg, model)["api_key_env"].fail("provider '" + model.provider +
                                                "' does not use an API key; remove 'api_key_env'");
  }
}

}  // namespace triage::providers

#include "server/serving.h"

#include "api/models.h"
#include "server/access_control.h"

namespace triage::server {

std::shared_ptr<const Serving> make_serving(std::unique_ptr<engine::BuiltConfig> engine,
                                            config::ConfigVersion version,
                                            const providers::EnvLookup& env, int64_t created_s) {
  auto s = std::make_shared<Serving>();
  s->engine = std::move(engine);
  s->version = std::move(version);
  s->config_keys = AccessControl::config_keys(s->cfg(), env);
  s->created_s = created_s;
  s->models_json = api::serialize_model_list(s->cfg(), created_s);
  s->cache = std::make_unique<CacheFront>(s->cfg(), s->version.sha256);
  return s;
}

}  // namespace triage::server

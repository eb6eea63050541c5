#pragma once
// What a provider uses to read and check its own part of a model's config: its `<provider>:`
// options block and the common fields it has rules about (endpoint, api_key_env), with the
// loader's "FILE:LINE: PATH: what" errors (config/yaml_util.h). Start-up only.
#include <string_view>

#include "config/config.h"
#include "config/yaml_util.h"

namespace triage::providers {

// The model's `<provider>:` block as a field: "models[2].replay" at its key's line; not present
// when the file has none. For a model built in code, path "<provider>" at the model's line.
config::Field options_field(const config::Config& cfg, const config::Model& model);

// The model's mapping as declared ("models[2]"), to point at one of its common fields.
config::MapReader declaration(const config::Config& cfg, const config::Model& model);

// For providers that call an HTTP endpoint: `endpoint` is required ("missing required field
// 'endpoint': provider 'openai' needs the base URL, e.g. <example_url>").
void require_endpoint(const config::Config& cfg, const config::Model& model,
                      std::string_view example_url);

// For in-process providers: `endpoint` and `api_key_env` must not be set.
void refuse_endpoint_and_key(const config::Config& cfg, const config::Model& model);

}  // namespace triage::providers

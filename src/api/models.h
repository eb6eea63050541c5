#pragma once
// GET /v1/models and GET /v1/models/{id}: the catalog models and the routes, both addressable as
// `model` in a chat request. OpenAI shape plus a per-entry "triage" object. The answer depends
// only on the config, so the server may render it once at start-up and keep the string.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"

namespace triage::api {

// {"object":"list","data":[entry...]}: models first, then routes, each in config order.
// Entry: {"id","object":"model","created","owned_by","triage":{...}} where triage is
//   models: {"kind":"model","tier","provider","prices":{"input_per_mtok","output_per_mtok",
//            "cached_input_per_mtok" (null when not billed apart),"per_call"},
//            "context_window" (null when unknown)}
//   routes: {"kind":"route","type"}
// owned_by is the model's provider for models and "triage" for routes. `created` is unix
// seconds (the server passes its start time). With `visible`, only the names it accepts are
// listed (a client key's allow-list: a client sees what it may call).
std::string serialize_model_list(const config::Config& cfg, int64_t created,
                                 const std::function<bool(std::string_view)>& visible = {});

// One entry, or kNotFound (param "model") when `id` is neither a model nor a route.
Result<std::string> serialize_model(const config::Config& cfg, std::string_view id,
                                    int64_t created);

}  // namespace triage::api

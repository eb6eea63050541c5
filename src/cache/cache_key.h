#pragma once
// The response cache's key (docs/cache.md): SHA-256 of a canonical rendering of everything that
// determines an answer, scoped per client key so one tenant never sees another's answer.
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "core/chat.h"

namespace triage::cache {

// `v` as JSON with every object's keys sorted (recursively) and no whitespace: equal for two
// bodies that differ only in key order.
std::string canonical_json(const boost::json::value& v);

// The cache key (32 raw bytes) of `req` sent to `name` (the route or model it names) under
// config version `config_version`, for the client `scope` (its key id; "anonymous" without
// one). Covers the whole request body except what cannot change the answer (`stream`,
// `stream_options`, `user`, `metadata`, `store` and the `model` field, replaced by `name`):
// messages with the system prompt, tools, tool_choice, response_format, sampling parameters,
// max_tokens, stop, seed, ... An unknown field counts too, so it can only split entries.
std::string cache_key(const core::ChatRequest& req, std::string_view name,
                      std::string_view config_version, std::string_view scope);

// Whether `req` samples: temperature > 0, or no temperature (the providers' default samples).
bool samples(const core::ChatRequest& req);

}  // namespace triage::cache

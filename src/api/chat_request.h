#pragma once
// OpenAI chat.completions request body -> core::ChatRequest. The only place a client's JSON is
// read; everything downstream sees core types (plus ChatRequest::body for pass-through).
#include <string_view>

#include "common/result.h"
#include "core/chat.h"

namespace triage::api {

// Parses and validates `body` the way the OpenAI API does. On failure the Error has code
// kInvalidRequest, a public message saying what to fix, and `param` set to the JSON path of
// the offending field ("messages[2].content"). Unknown fields are accepted and kept in
// ChatRequest::body for providers to forward.
//
// Fills every field except meta.request_id / api_key_id / cohort, which come from HTTP headers:
// meta.user is the `user` field and meta.category is `metadata.category` when that is a string
// (the server lets the x-triage-category header override it).
//
// The parsed body uses the default memory resource, so the request may be copied, moved to
// another thread or outlive the buffer `body` points into. Thread-safe, no shared state.
Result<core::ChatRequest> parse_chat_request(std::string_view body);

}  // namespace triage::api

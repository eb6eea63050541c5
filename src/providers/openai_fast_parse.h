#pragma once
// A streaming (SAX) reader for the common shape of an OpenAI chat completion: one pass over
// the bytes, no DOM. It picks out model, choices[0].message.content, choices[0].finish_reason
// and usage, and gives up (nullopt) on anything else it would have to interpret: tool calls,
// logprobs, a content that is not a string, a repeated field, a missing message, malformed
// JSON. openai::parse_response then parses with the DOM, which also words the errors, so the
// two always agree on what a body means (tests/unit/providers/openai_fast_parse_test.cc).
//
// Why: building the DOM was the largest single cost of a proxied request after the kernel and
// the store (~8k of ~114k instructions, docs/performance.md).
#include <optional>
#include <string_view>

#include "core/chat.h"

namespace triage::providers::openai {

// `model` is the catalog name the completion is attributed to. reported_usage is set when the
// body had a usage object. Thread-safe (no shared state).
std::optional<core::Completion> parse_response_fast(std::string_view body, std::string_view model,
                                                    bool& reported_usage);

}  // namespace triage::providers::openai

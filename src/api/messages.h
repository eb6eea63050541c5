#pragma once
// The Anthropic Messages API as a client dialect (POST /v1/messages): the request is read into
// a core::ChatRequest whose `body` is the equivalent OpenAI chat body (so every provider serves
// it unchanged), and answers, stream events and errors are written the way Anthropic does.
// What both APIs can express is translated; what OpenAI's shape cannot carry is refused with a
// 400 that says so (docs/api.md). Thread-safe, no shared state.
#include <memory>
#include <string>
#include <string_view>

#include "api/dialect.h"

namespace triage::api::messages {

// Parses and validates a Messages API body (max_tokens required, as Anthropic does). Errors are
// kInvalidRequest with `param` set to the field's path ("messages[1].content[0].source").
Result<core::ChatRequest> parse_request(std::string_view body);

// {"type":"error","error":{"type":"invalid_request_error","message":...}} with the status of
// api::http_status(e.code).
HttpError error_response(const Error& e);

// A whole `message` object: content blocks (text, tool_use), stop_reason, usage, "triage".
std::string serialize_message(const ResponseInfo& info, const core::Completion& c);

// Anthropic stop_reason <-> OpenAI finish_reason (the one mapping; the anthropic provider uses
// it too). end_turn/stop_sequence/pause_turn -> stop, max_tokens -> length, tool_use ->
// tool_calls, refusal -> content_filter; and back (stop -> end_turn).
std::string_view finish_reason(std::string_view stop_reason);
std::string_view stop_reason(std::string_view finish_reason);

// "req_0123..." -> "msg_0123...".
std::string message_id(std::string_view request_id);

// message_start, content_block_start/delta/stop per block (text_delta, input_json_delta),
// message_delta (stop_reason, usage), message_stop; errors as an `error` event.
std::unique_ptr<StreamRenderer> make_stream_renderer();

}  // namespace triage::api::messages

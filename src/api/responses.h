#pragma once
// The OpenAI Responses API as a client dialect (POST /v1/responses), stateless subset: the
// request's `input` items, `instructions` and function tools are read into a core::ChatRequest
// whose `body` is the equivalent chat.completions body (so every provider serves it), and the
// answer is a Response object (or the Responses stream events). What needs server-side state
// (previous_response_id, conversation, store: true, background) and OpenAI's built-in tools
// are refused with a 400 that says so (docs/api.md). Errors keep OpenAI's shape.
// Thread-safe, no shared state.
#include <memory>
#include <string>
#include <string_view>

#include "api/dialect.h"

namespace triage::api::responses {

// Parses and validates a Responses API body. Errors are kInvalidRequest with `param` set to the
// field's path ("input[2].content[0].image_url"). The fields the Response object repeats
// (instructions, metadata, tools, tool_choice, text...) go to ChatRequest::echo.
Result<core::ChatRequest> parse_request(std::string_view body);

// A whole Response object: `output` holds a `message` item with one `output_text` part (when
// the model wrote text or called nothing) and one `function_call` item per tool call; status
// "incomplete" with incomplete_details when cut by max_output_tokens or a content filter.
std::string serialize_response(const core::ChatRequest& req, const ResponseInfo& info,
                               const core::Completion& c);

// "req_0123..." -> "resp_0123...".
std::string response_id(std::string_view request_id);

// response.created, response.in_progress; per output item output_item.added, (message)
// content_part.added, output_text.delta..., output_text.done, content_part.done, (function
// call) function_call_arguments.delta..., function_call_arguments.done, then
// output_item.done; response.completed (or response.incomplete) with usage. Every event
// carries `sequence_number`. A failure after the start is response.failed, then an `error`
// event (which the OpenAI SDKs raise as an APIError).
std::unique_ptr<StreamRenderer> make_stream_renderer(const core::ChatRequest& req);

}  // namespace triage::api::responses

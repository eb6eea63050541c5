#pragma once
// The one mapping from triage::Error to what a client sees: HTTP status and an OpenAI-style
// error body {"error":{"message","type","param","code"}}. Only Error::message (public) and
// Error::param leave the gateway; Error::internal never does. Thread-safe, no state.
#include <string>
#include <string_view>

#include "common/result.h"

namespace triage::api {

struct HttpError {
  int status = 500;
  std::string body;  // application/json
};

// Status, body and (for every caller that needs them separately) the OpenAI `type`/`code`.
HttpError error_response(const Error& e);
int http_status(ErrorCode code);
std::string_view error_type(ErrorCode code);  // "invalid_request_error", "server_error"...
std::string_view error_code(ErrorCode code);  // OpenAI `code`; empty means null

// Stable snake_case name for traces, metrics labels and logs ("invalid_request",
// "upstream_timeout"...). Defined in common/ (traces need it below api/); re-exported here.
using triage::error_code_name;

// The error object alone, without the HTTP wrapper: {"error":{...}}.
std::string error_body(const Error& e);

// An SSE event carrying the error, for failures after a 200 stream has started:
// "data: {\"error\":{...}}\n\n". OpenAI SDKs raise it as an APIError.
std::string error_event(const Error& e);

}  // namespace triage::api

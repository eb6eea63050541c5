#include "api/errors.h"

#include "api/json_write.h"

namespace triage::api {
namespace {

struct Mapping {
  int status;
  std::string_view type;
  std::string_view code;  // empty: null
};

Mapping mapping(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest:
      return {400, "invalid_request_error", ""};
    case ErrorCode::kUnauthorized:
      return {401, "authentication_error", "invalid_api_key"};
    case ErrorCode::kForbidden:
      return {403, "permission_error", "permission_denied"};
    case ErrorCode::kNotFound:
      return {404, "invalid_request_error", "model_not_found"};
    case ErrorCode::kMethodNotAllowed:
      return {405, "invalid_request_error", "method_not_allowed"};
    case ErrorCode::kPayloadTooLarge:
      return {413, "invalid_request_error", "request_too_large"};
    case ErrorCode::kUnsupportedMedia:
      return {415, "invalid_request_error", "unsupported_media_type"};
    case ErrorCode::kRateLimited:
      return {429, "rate_limit_error", "rate_limit_exceeded"};
    case ErrorCode::kInternal:
      return {500, "server_error", ""};
    case ErrorCode::kUpstreamError:
      return {502, "upstream_error", "bad_gateway"};
    case ErrorCode::kUnavailable:
      return {503, "server_error", "service_unavailable"};
    case ErrorCode::kUpstreamTimeout:
      return {504, "timeout_error", "upstream_timeout"};
    case ErrorCode::kCancelled:
      return {499, "cancelled_error", "client_closed_request"};
    case ErrorCode::kNoEligibleModel:
      return {400, "invalid_request_error", "no_eligible_model"};
  }
  return {500, "server_error", ""};
}

// "model_not_found" is what OpenAI's clients expect for an unknown model; anything else that is
// not found (a config version, a key, a review request, a rollout) says so without naming a
// model.
std::string_view wire_code(const Error& e, const Mapping& m) {
  if (e.code == ErrorCode::kNotFound && e.param != "model") return "not_found";
  return m.code;
}

void append_error_object(std::string& out, const Error& e) {
  Mapping m = mapping(e.code);
  out += R"({"error":{"message":)";
  // A public message is required by the contract; never leave the client with nothing.
  detail::append_string(out, e.message.empty() ? std::string_view("Internal error") : e.message);
  out += R"(,"type":)";
  detail::append_string(out, m.type);
  out += R"(,"param":)";
  detail::append_string_or_null(out, e.param);
  out += R"(,"code":)";
  detail::append_string_or_null(out, wire_code(e, m));
  out += "}}";
}

}  // namespace

int http_status(ErrorCode code) { return mapping(code).status; }
std::string_view error_type(ErrorCode code) { return mapping(code).type; }
std::string_view error_code(ErrorCode code) { return mapping(code).code; }

std::string error_body(const Error& e) {
  std::string out;
  out.reserve(96 + e.message.size() + e.param.size());
  append_error_object(out, e);
  return out;
}

HttpError error_response(const Error& e) { return {http_status(e.code), error_body(e)}; }

std::string error_event(const Error& e) {
  std::string out = "data: ";
  out.reserve(104 + e.message.size() + e.param.size());
  append_error_object(out, e);
  out += "\n\n";
  return out;
}

}  // namespace triage::api

#include "common/result.h"

namespace triage {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest: return "invalid_request";
    case ErrorCode::kUnauthorized: return "unauthorized";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kMethodNotAllowed: return "method_not_allowed";
    case ErrorCode::kPayloadTooLarge: return "payload_too_large";
    case ErrorCode::kUnsupportedMedia: return "unsupported_media";
    case ErrorCode::kRateLimited: return "rate_limited";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kUpstreamError: return "upstream_error";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kUpstreamTimeout: return "upstream_timeout";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kNoEligibleModel: return "no_eligible_model";
  }
  return "internal";
}

}  // namespace triage

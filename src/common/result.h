#pragma once
// Errors are values on the data path: every fallible operation on the request path returns
// Result<T>. Exceptions are reserved for start-up, third-party adapters and bugs.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace triage {

// What went wrong, in terms a client can act on. Exactly one function (api::error_response)
// maps a code to an HTTP status and an OpenAI-style error body.
enum class ErrorCode {
  kInvalidRequest,     // 400: the client sent something malformed or inconsistent
  kUnauthorized,       // 401: no credential, or one we do not know
  kForbidden,          // 403: a known credential that may not do this (route, model, request)
  kNotFound,           // 404: unknown model / route / path
  kMethodNotAllowed,   // 405
  kPayloadTooLarge,    // 413
  kUnsupportedMedia,   // 415
  kRateLimited,        // 429: a limit of ours or the upstream's
  kInternal,           // 500: a bug
  kUpstreamError,      // 502: the upstream failed or answered garbage
  kUnavailable,        // 503: overloaded, circuit open, shutting down
  kUpstreamTimeout,    // 504: the deadline passed while waiting for the upstream
  kCancelled,          // 499: the client went away
  // 400: no model the request may reach can take it (context window, tools, images, JSON
  // schema, max output tokens: routes/eligibility.h). A route kind skips a model refused with
  // it to its next choice, as it does a model whose circuit is open.
  kNoEligibleModel,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;   // public: safe to send to the client, says what to fix
  std::string internal;  // for logs and the store only; never contains secrets
  std::string param;     // the offending request field, when there is one ("messages[2].role")
  // 429/503: when the client may try again, sent as `Retry-After` (seconds); 0: no header.
  int64_t retry_after_s = 0;
};

// Stable snake_case name of a code, used in traces, the store and metric labels
// ("invalid_request", "upstream_timeout").
std::string_view error_code_name(ErrorCode code);

inline Error make_error(ErrorCode code, std::string message, std::string internal = {},
                        std::string param = {}) {
  return Error{code, std::move(message), std::move(internal), std::move(param)};
}

// A minimal std::expected stand-in (C++20 has none).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace triage

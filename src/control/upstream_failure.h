#pragma once
// One failed upstream attempt, described by typed facts (never by parsing an error's text): what
// the retry policy and the circuit breaker decide from.
#include <cstdint>
#include <optional>

namespace triage::control {

enum class FailureKind {
  kConnect,     // no connection (refused, DNS, TLS handshake): the upstream saw nothing
  kReset,       // the connection broke after the request was sent
  kTimeout,     // our deadline for the attempt passed
  kHttpStatus,  // the upstream answered an error status (http_status)
  kMalformed,   // the upstream answered 2xx with a body we could not read
};

struct UpstreamFailure {
  FailureKind kind = FailureKind::kConnect;
  int http_status = 0;  // kHttpStatus only
  // A byte of the answer already reached the client (a stream had started): nothing can be
  // retried or replaced any more without the client seeing two answers.
  bool client_saw_bytes = false;
  // The upstream's Retry-After (or retry-after-ms) as a delay from now, when it sent one
  // (parse_retry_after in retry.h).
  std::optional<int64_t> retry_after_ms;
};

// Does this failure say the deployment is unhealthy? Connect errors, resets, timeouts, garbage
// and 5xx do; 429 does too (the deployment is saturated: send the traffic elsewhere, as LiteLLM
// cools a deployment down on 429). Other 4xx are the request's fault and do not.
inline bool counts_against_breaker(const UpstreamFailure& f) {
  if (f.kind != FailureKind::kHttpStatus) return true;
  return f.http_status == 429 || f.http_status >= 500;
}

}  // namespace triage::control

#include "control/retry.h"

#include <algorithm>
#include <cmath>

namespace triage::control {

std::string_view no_retry_reason_name(NoRetryReason reason) {
  switch (reason) {
    case NoRetryReason::kNone:
      return "";
    case NoRetryReason::kNotRetryable:
      return "not_retryable";
    case NoRetryReason::kStreamStarted:
      return "stream_started";
    case NoRetryReason::kAttemptsExhausted:
      return "attempts_exhausted";
    case NoRetryReason::kRetryAfterTooLong:
      return "retry_after_too_long";
    case NoRetryReason::kDeadline:
      return "deadline";
    case NoRetryReason::kBudgetExhausted:
      return "budget_exhausted";
    case NoRetryReason::kNoCapacity:
      return "no_capacity";
  }
  return "unknown";
}

bool is_retryable(const UpstreamFailure& f) {
  if (f.client_saw_bytes) return false;
  switch (f.kind) {
    case FailureKind::kConnect:
    case FailureKind::kReset:
      return true;
    case FailureKind::kHttpStatus:
      return f.http_status == 429 || f.http_status == 500 || f.http_status == 502 ||
             f.http_status == 503 || f.http_status == 504;
    case FailureKind::kTimeout:
    case FailureKind::kMalformed:
      return false;
  }
  return false;
}

int64_t backoff_ms(const RetryOptions& options, int retry_index, RandomSource& rng) {
  const int64_t cap = std::max<int64_t>(0, options.max_backoff_ms);
  int64_t ceiling = std::max<int64_t>(0, options.base_backoff_ms);
  for (int i = 0; i < retry_index && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  return static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(ceiling) + 1));
}

RetryDecision decide_retry(const RetryOptions& options, const UpstreamFailure& failure,
                           int retries_done, int64_t now_ms, int64_t deadline_ms,
                           int64_t expected_attempt_ms, RandomSource& rng, RetryBudget* budget) {
  auto no = [](NoRetryReason reason) {
    RetryDecision d;
    d.reason = reason;
    return d;
  };
  if (failure.client_saw_bytes) return no(NoRetryReason::kStreamStarted);
  if (!is_retryable(failure)) return no(NoRetryReason::kNotRetryable);
  if (retries_done >= options.max_retries) return no(NoRetryReason::kAttemptsExhausted);

  RetryDecision d;
  d.delay_ms = backoff_ms(options, retries_done, rng);
  if (failure.retry_after_ms) {
    const int64_t asked = std::max<int64_t>(0, *failure.retry_after_ms);
    if (asked > options.max_retry_after_ms) return no(NoRetryReason::kRetryAfterTooLong);
    if (asked >= d.delay_ms) {
      d.delay_ms = asked;
      d.from_retry_after = true;
    }
  }
  const int64_t attempt_ms = std::max(expected_attempt_ms, options.min_attempt_ms);
  if (now_ms + d.delay_ms + attempt_ms > deadline_ms) return no(NoRetryReason::kDeadline);
  if (budget != nullptr && !budget->try_spend()) return no(NoRetryReason::kBudgetExhausted);
  d.retry = true;
  return d;
}

// ---- RetryBudget ----

RetryBudget::RetryBudget(RetryBudgetOptions options, const WallClock& clock)
    : options_(options), clock_(clock), window_(options.window_ms, options.window_buckets) {}

void RetryBudget::record_call() { window_.add(clock_.now_ms(), 0); }

int64_t RetryBudget::allowed(int64_t calls) const {
  const auto share = static_cast<int64_t>(std::floor(options_.ratio * static_cast<double>(calls)));
  return std::max(options_.min_retries, share);
}

bool RetryBudget::try_spend() {
  std::lock_guard lock(spend_mu_);
  const int64_t now = clock_.now_ms();
  const auto [calls, retries] = window_.totals(now);
  if (retries >= allowed(calls)) return false;
  window_.add(now, 1);
  return true;
}

RetryBudget::Usage RetryBudget::usage() const {
  const auto [calls, retries] = window_.totals(clock_.now_ms());
  return Usage{calls, retries, allowed(calls)};
}

}  // namespace triage::control

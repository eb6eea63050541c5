#pragma once
// Retries of one upstream call: which failures may be retried, how long to wait (exponential
// backoff with full jitter, or the upstream's Retry-After), whether the request's deadline
// leaves room, and a per-model retry budget so that retries cannot multiply an outage. Every
// "no" says why, for the trace.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

#include "common/clock.h"
#include "control/random.h"
#include "control/upstream_failure.h"
#include "control/window_counter.h"

namespace triage::control {

struct RetryOptions {
  // Retries after the first attempt (attempts = 1 + max_retries). LiteLLM's router retries
  // twice by default, Envoy once; two covers a 429 burst and a restarting replica.
  int max_retries = 2;
  // Backoff before retry n (0-based) is uniform in [0, min(max_backoff_ms, base << n)]: "full
  // jitter", which spreads a herd of clients best. Envoy uses 25 ms with a 250 ms cap for RPCs;
  // LLM upstreams shed load for longer, hence 250 ms and 4 s.
  int64_t base_backoff_ms = 250;
  int64_t max_backoff_ms = 4'000;
  // An upstream Retry-After longer than this is not waited for: the request fails over to the
  // next choice (or fails) at once instead of holding the client.
  int64_t max_retry_after_ms = 20'000;
  // The least time an attempt is given: a retry is made only if now + delay + the expected
  // attempt time (at least this) is before the deadline.
  int64_t min_attempt_ms = 500;
};

enum class NoRetryReason {
  kNone,
  kNotRetryable,   // a failure class that does not get better by trying again (4xx, garbage)
  kStreamStarted,  // the client already has part of an answer
  kAttemptsExhausted,
  kRetryAfterTooLong,  // the upstream asked for a longer wait than max_retry_after_ms
  kDeadline,           // the wait plus an attempt would not finish before the deadline
  kBudgetExhausted,    // the failed deployment's retry budget is spent
  kNoCapacity,         // no deployment freed a concurrency slot for the retry in time
};
// "not_retryable" | "stream_started" | "attempts_exhausted" | "retry_after_too_long" |
// "deadline" | "budget_exhausted" | "no_capacity" ("" for kNone)
std::string_view no_retry_reason_name(NoRetryReason reason);

struct RetryDecision {
  bool retry = false;
  int64_t delay_ms = 0;           // wait this long, then retry
  bool from_retry_after = false;  // delay_ms is the upstream's Retry-After
  NoRetryReason reason = NoRetryReason::kNone;
};

// The failure classes that may be retried: connect errors, resets, HTTP 429/500/502/503/504,
// and never once the client saw a byte. Timeouts are not: the attempt already used most of
// the deadline, and the route's fallback is the better answer.
bool is_retryable(const UpstreamFailure& failure);

// Full-jitter exponential backoff for retry `retry_index` (0 for the first retry).
int64_t backoff_ms(const RetryOptions& options, int retry_index, RandomSource& rng);

// Per model: retries may be at most `ratio` of the model's first attempts over the window, or
// `min_retries` per window when that is more (so that low traffic can still retry). Load on a
// failing upstream is thus at most (1 + ratio) times the offered load, however many retries
// each request may make. Envoy's retry budget (20% of active requests, at least 3 concurrent
// retries) and Finagle's (a share of requests over a TTL window, plus a floor) are the models;
// this one counts over a time window like Finagle's, which needs no in-flight bookkeeping.
struct RetryBudgetOptions {
  double ratio = 0.2;
  int64_t min_retries = 3;
  int64_t window_ms = 10'000;
  int window_buckets = 10;
};

// Thread-safe. record_call is lock-free; try_spend takes a mutex so that two threads cannot
// both take the last retry (it runs only on failures).
class RetryBudget {
 public:
  // `clock` must outlive the budget.
  RetryBudget(RetryBudgetOptions options, const WallClock& clock);

  void record_call();  // every first attempt of a call to the model
  bool try_spend();    // one retry: true (and counted) when the budget allows it

  struct Usage {
    int64_t calls = 0;    // first attempts in the window
    int64_t retries = 0;  // retries in the window
    int64_t allowed = 0;  // retries the budget allows in the window now
  };
  Usage usage() const;

 private:
  int64_t allowed(int64_t calls) const;

  const RetryBudgetOptions options_;
  const WallClock& clock_;
  WindowCounter window_;  // slot 0 calls, slot 1 retries
  std::mutex spend_mu_;
};

// Decides whether to retry after `failure`, the `retries_done`-th retry so far (0 after the
// first attempt). `now_ms` and `deadline_ms` are on one clock; `expected_attempt_ms` is how
// long an attempt usually takes (the balancer's latency average, say; min_attempt_ms at
// least). Checks in order: stream started, retryable, attempts, Retry-After, deadline, and the
// budget last (a refused retry spends nothing). `budget` may be null (no budget).
RetryDecision decide_retry(const RetryOptions& options, const UpstreamFailure& failure,
                           int retries_done, int64_t now_ms, int64_t deadline_ms,
                           int64_t expected_attempt_ms, RandomSource& rng, RetryBudget* budget);

// An upstream's Retry-After (RFC 9110 10.2.3) as a delay in ms from now: delay-seconds or an
// HTTP-date in any of the three forms a recipient must accept (IMF-fixdate, RFC 850, asctime);
// a date in the past is 0. OpenAI's `retry-after-ms` (milliseconds), when given and valid, wins
// over `retry-after`. nullopt when neither header is usable.
std::optional<int64_t> parse_retry_after(std::string_view retry_after, int64_t now_unix_ms,
                                         std::string_view retry_after_ms = {});

}  // namespace triage::control

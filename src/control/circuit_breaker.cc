#include "control/circuit_breaker.h"

#include <algorithm>

namespace triage::control {

namespace {
constexpr int kMaxLevel = 30;

BreakerOptions normalized(BreakerOptions o) {
  o.half_open_probes = std::max(1, o.half_open_probes);  // 0 would never close again
  o.min_calls = std::max(1, o.min_calls);
  o.window_ms = std::max<int64_t>(1, o.window_ms);
  o.window_buckets = std::max(1, o.window_buckets);
  o.cool_down_ms = std::max<int64_t>(1, o.cool_down_ms);
  o.max_cool_down_ms = std::max(o.max_cool_down_ms, o.cool_down_ms);
  return o;
}
}  // namespace

std::string_view breaker_state_name(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

std::string_view breaker_reason_name(BreakerReason reason) {
  switch (reason) {
    case BreakerReason::kConsecutiveFailures:
      return "consecutive_failures";
    case BreakerReason::kFailureRate:
      return "failure_rate";
    case BreakerReason::kCoolDownElapsed:
      return "cool_down_elapsed";
    case BreakerReason::kProbeFailed:
      return "probe_failed";
    case BreakerReason::kProbeSucceeded:
      return "probe_succeeded";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(std::string name, BreakerOptions options, const WallClock& clock,
                               TransitionListener listener)
    : name_(std::move(name)),
      options_(normalized(options)),
      clock_(clock),
      listener_(std::move(listener)),
      window_(options_.window_ms, options_.window_buckets) {}

BreakerPermit CircuitBreaker::try_acquire() {
  if (state_.load(std::memory_order_acquire) == BreakerState::kClosed) return {true, false, 0, 0};
  const int64_t now = clock_.now_ms();
  if (state_.load(std::memory_order_acquire) == BreakerState::kOpen) {
    const int64_t until = open_until_ms_.load(std::memory_order_acquire);
    if (now < until) return {false, false, 0, until - now};  // fail fast, no lock
  }
  std::lock_guard lock(mu_);
  const BreakerState s = state_.load(std::memory_order_relaxed);
  if (s == BreakerState::kClosed) return {true, false, 0, 0};
  if (s == BreakerState::kOpen) {
    const int64_t until = open_until_ms_.load(std::memory_order_relaxed);
    if (now < until) return {false, false, 0, until - now};
    probes_in_flight_.store(0, std::memory_order_relaxed);
    move_to(BreakerState::kHalfOpen, BreakerReason::kCoolDownElapsed, now, 0);
  }
  if (probes_in_flight_.load(std::memory_order_relaxed) >= options_.half_open_probes) {
    return {false, false, 0, 0};
  }
  probes_in_flight_.fetch_add(1, std::memory_order_relaxed);
  return {true, true, episode_, 0};
}

void CircuitBreaker::on_success(const BreakerPermit& permit) {
  if (!permit.allowed) return;
  const int64_t now = clock_.now_ms();
  window_.add(now, 0);
  if (!permit.probe) {
    // The hot path: one load, and a store only after a failure.
    if (consecutive_failures_.load(std::memory_order_relaxed) != 0) {
      consecutive_failures_.store(0, std::memory_order_relaxed);
    }
    return;
  }
  std::lock_guard lock(mu_);
  if (permit.episode != episode_ ||
      state_.load(std::memory_order_relaxed) != BreakerState::kHalfOpen) {
    return;  // a probe of an episode that is over
  }
  probes_in_flight_.store(0, std::memory_order_relaxed);
  consecutive_failures_.store(0, std::memory_order_relaxed);
  window_.clear();
  closed_since_ms_ = now;
  move_to(BreakerState::kClosed, BreakerReason::kProbeSucceeded, now, 0);
}

void CircuitBreaker::on_failure(const BreakerPermit& permit) {
  if (!permit.allowed) return;
  const int64_t now = clock_.now_ms();
  window_.add(now, 1);
  std::lock_guard lock(mu_);
  const BreakerState s = state_.load(std::memory_order_relaxed);
  if (permit.probe) {
    if (permit.episode == episode_ && s == BreakerState::kHalfOpen) {
      trip(now, BreakerReason::kProbeFailed);
    }
    return;
  }
  if (s != BreakerState::kClosed) return;  // admitted before the circuit opened: old news
  const int consecutive = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (options_.consecutive_failures > 0 && consecutive >= options_.consecutive_failures) {
    trip(now, BreakerReason::kConsecutiveFailures);
    return;
  }
  if (options_.failure_rate > 0) {
    const auto [successes, failures] = window_.totals(now);
    const int64_t calls = successes + failures;
    if (calls >= options_.min_calls &&
        static_cast<double>(failures) >= options_.failure_rate * static_cast<double>(calls)) {
      trip(now, BreakerReason::kFailureRate);
    }
  }
}

void CircuitBreaker::on_neutral(const BreakerPermit& permit) {
  if (!permit.allowed || !permit.probe) return;
  std::lock_guard lock(mu_);
  if (permit.episode == episode_ &&
      state_.load(std::memory_order_relaxed) == BreakerState::kHalfOpen &&
      probes_in_flight_.load(std::memory_order_relaxed) > 0) {
    probes_in_flight_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void CircuitBreaker::trip(int64_t now, BreakerReason reason) {
  const bool flapping =
      reason == BreakerReason::kProbeFailed || now - closed_since_ms_ < options_.window_ms;
  level_ = flapping ? std::min(level_ + 1, kMaxLevel) : 0;
  int64_t cool_down = options_.cool_down_ms;
  for (int i = 0; i < level_ && cool_down < options_.max_cool_down_ms; ++i) cool_down *= 2;
  cool_down = std::min(cool_down, options_.max_cool_down_ms);
  ++episode_;
  consecutive_failures_.store(0, std::memory_order_relaxed);
  probes_in_flight_.store(0, std::memory_order_relaxed);
  open_until_ms_.store(now + cool_down, std::memory_order_release);
  opens_.fetch_add(1, std::memory_order_relaxed);
  move_to(BreakerState::kOpen, reason, now, cool_down);
}

void CircuitBreaker::move_to(BreakerState to, BreakerReason reason, int64_t now,
                             int64_t cool_down) {
  const BreakerState from = state_.load(std::memory_order_relaxed);
  state_.store(to, std::memory_order_release);
  if (listener_) listener_(BreakerTransition{name_, from, to, reason, now, cool_down});
}

bool CircuitBreaker::would_allow() const {
  switch (state()) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      return clock_.now_ms() >= open_until_ms_.load(std::memory_order_acquire);
    case BreakerState::kHalfOpen:
      return probes_in_flight_.load(std::memory_order_relaxed) < options_.half_open_probes;
  }
  return false;
}

bool CircuitBreaker::probe_due() const { return state() != BreakerState::kClosed && would_allow(); }

int64_t CircuitBreaker::retry_after_ms() const {
  if (state() != BreakerState::kOpen) return 0;
  return std::max<int64_t>(0, open_until_ms_.load(std::memory_order_acquire) - clock_.now_ms());
}

}  // namespace triage::control

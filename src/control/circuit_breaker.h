#pragma once
// A circuit breaker for one model or one deployment of a model.
//
// closed -> open: N consecutive failures, or a failure rate over a sliding window once the
//   window holds a minimum number of calls. Open circuits fail fast (no upstream call).
// open -> half_open: the first call after the cool-down; half-open lets a bounded number of
//   probes through at once and refuses the rest.
// half_open -> closed: a probe succeeds (the window starts afresh).
// half_open -> open: a probe fails; the cool-down doubles (capped). It also doubles when a
//   circuit trips again within one window of having closed (a flapping upstream), and starts
//   from the base again after a healthy spell.
//
// Only a probe's outcome moves a half-open circuit: a late answer to a call admitted before the
// circuit opened says nothing about the upstream now.
//
// Thread safety: all methods are thread-safe. The success path of a closed circuit takes no
// lock (atomics only); failures and transitions take a mutex. The clock is injected; time that
// steps backwards only delays a cool-down's end.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "control/window_counter.h"

namespace triage::control {

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };
std::string_view breaker_state_name(BreakerState state);  // closed | open | half_open

struct BreakerOptions {
  // Opens after this many failures in a row; 0 turns the rule off. Envoy's consecutive_5xx
  // default is 5.
  int consecutive_failures = 5;
  // Opens when failures / calls over the window reach this share, once the window holds at
  // least min_calls calls; 0 turns the rule off. 50% like LiteLLM's cooldown threshold, with
  // more calls needed (20, not 5) so that a few unlucky calls do not open a busy model.
  double failure_rate = 0.5;
  int min_calls = 20;
  int64_t window_ms = 30'000;
  int window_buckets = 30;
  // How long an open circuit fails fast before a probe. LiteLLM cools a deployment down for
  // 5 s, Envoy ejects a host for 30 s; LLM upstreams often recover in seconds (a 429 burst, a
  // restarted vLLM), and the doubling covers the ones that do not.
  int64_t cool_down_ms = 5'000;
  int64_t max_cool_down_ms = 300'000;  // Envoy's max_ejection_time default
  // Probes let through at once while half-open.
  int half_open_probes = 1;
};

enum class BreakerReason {
  kConsecutiveFailures,  // closed -> open
  kFailureRate,          // closed -> open
  kCoolDownElapsed,      // open -> half_open
  kProbeFailed,          // half_open -> open
  kProbeSucceeded,       // half_open -> closed
};
std::string_view breaker_reason_name(BreakerReason reason);

struct BreakerTransition {
  std::string_view breaker;  // the breaker's name (a model or deployment)
  BreakerState from;
  BreakerState to;
  BreakerReason reason;
  int64_t at_ms;
  int64_t cool_down_ms;  // when opening: how long it stays open
};
// Called for every transition, in order, with the breaker's mutex held: it must be quick (set a
// gauge, enqueue a log line) and must not call this breaker's non-const methods.
using TransitionListener = std::function<void(const BreakerTransition&)>;

// Permission for one call. Every allowed permit must be answered by exactly one of on_success,
// on_failure or on_neutral (BreakerCall does it for you).
struct BreakerPermit {
  bool allowed = false;
  bool probe = false;          // a half-open probe: its outcome decides the state
  uint64_t episode = 0;        // which open/half-open episode a probe belongs to
  int64_t retry_after_ms = 0;  // refused: time until the cool-down ends (0: probes busy)
};

class CircuitBreaker {
 public:
  // `clock` must outlive the breaker.
  CircuitBreaker(std::string name, BreakerOptions options, const WallClock& clock,
                 TransitionListener listener = {});
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  BreakerPermit try_acquire();
  void on_success(const BreakerPermit& permit);
  void on_failure(const BreakerPermit& permit);
  // The call ended in a way that says nothing about the upstream (the client went away, the
  // request was invalid): frees a probe slot, counts nothing.
  void on_neutral(const BreakerPermit& permit);

  // Side-effect-free views, for choosing among deployments and for metrics.
  BreakerState state() const { return state_.load(std::memory_order_acquire); }
  bool would_allow() const;        // what try_acquire would answer now
  bool probe_due() const;          // open with the cool-down over, or half-open with a free slot
  int64_t retry_after_ms() const;  // 0 unless open and cooling down
  int64_t opens() const { return opens_.load(std::memory_order_relaxed); }
  const std::string& name() const { return name_; }

 private:
  void trip(int64_t now, BreakerReason reason);  // requires mu_
  void move_to(BreakerState to, BreakerReason reason, int64_t now, int64_t cool_down);  // mu_

  const std::string name_;
  const BreakerOptions options_;
  const WallClock& clock_;
  const TransitionListener listener_;
  WindowCounter window_;  // slot 0 successes, slot 1 failures

  std::atomic<BreakerState> state_{BreakerState::kClosed};
  std::atomic<int> consecutive_failures_{0};
  std::atomic<int64_t> open_until_ms_{0};
  std::atomic<int> probes_in_flight_{0};
  std::atomic<int64_t> opens_{0};

  std::mutex mu_;  // serialises transitions; guards the fields below
  uint64_t episode_ = 0;
  int level_ = 0;  // cool_down_ms << level_, capped
  int64_t closed_since_ms_ = INT64_MIN / 2;
};

// One call through a breaker, RAII: answers the permit as neutral if the caller did not.
class BreakerCall {
 public:
  explicit BreakerCall(CircuitBreaker& breaker)
      : breaker_(&breaker), permit_(breaker.try_acquire()) {}
  BreakerCall(BreakerCall&& other) noexcept : breaker_(other.breaker_), permit_(other.permit_) {
    other.breaker_ = nullptr;
  }
  BreakerCall& operator=(BreakerCall&&) = delete;
  ~BreakerCall() { neutral(); }

  bool allowed() const { return permit_.allowed; }
  const BreakerPermit& permit() const { return permit_; }
  void succeeded() { finish(&CircuitBreaker::on_success); }
  void failed() { finish(&CircuitBreaker::on_failure); }
  void neutral() { finish(&CircuitBreaker::on_neutral); }

 private:
  void finish(void (CircuitBreaker::*outcome)(const BreakerPermit&)) {
    if (breaker_ == nullptr || !permit_.allowed) return;
    CircuitBreaker* b = breaker_;
    breaker_ = nullptr;
    (b->*outcome)(permit_);
  }

  CircuitBreaker* breaker_;
  BreakerPermit permit_;
};

}  // namespace triage::control

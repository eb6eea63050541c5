#include "net/busy_poll.h"

#include <sched.h>

namespace triage::net {

PollHint& poll_hint() {
  thread_local PollHint hint;
  return hint;
}

UpstreamWait::UpstreamWait() : start_(SteadyClock::now()) { ++poll_hint().awaiting_upstream; }

UpstreamWait::~UpstreamWait() {
  if (open_) --poll_hint().awaiting_upstream;
}

void UpstreamWait::done() {
  if (!open_) return;
  open_ = false;
  PollHint& h = poll_hint();
  --h.awaiting_upstream;
  const int64_t us = micros_between(start_, SteadyClock::now());
  // EWMA with weight 1/8: a few slow replies switch polling off, a few fast ones back on.
  h.reply_ewma_us = h.reply_ewma_us == INT64_MAX ? us : h.reply_ewma_us + (us - h.reply_ewma_us) / 8;
}

void run_io(boost::asio::io_context& ioc, std::chrono::microseconds window) {
  if (window.count() <= 0) {
    ioc.run();
    return;
  }
  const PollHint& h = poll_hint();
  // Share of the last ~10 ms this thread spent running handlers. A busy thread does not spin:
  // its waits are short and return batches anyway, and spinning would take the core from work
  // that uses the gaps (the store writer), costing throughput at saturation (measured: -3 to -8%
  // req/s at 8 connections before this gate).
  constexpr auto kPeriod = std::chrono::milliseconds(10);
  SteadyTime period_start = SteadyClock::now();
  SteadyClock::duration busy_time{};
  bool busy = false;
  while (!ioc.stopped()) {
    const SteadyTime t0 = SteadyClock::now();
    const std::size_t ran = ioc.poll();
    const SteadyTime t1 = SteadyClock::now();
    if (ran > 0) busy_time += t1 - t0;
    if (t1 - period_start >= kPeriod) {
      busy = busy_time * 2 > t1 - period_start;
      busy_time = {};
      period_start = t1;
    }
    if (ran > 0) continue;
    if (!busy && h.awaiting_upstream > 0 && h.reply_ewma_us < window.count()) {
      const SteadyTime until = t1 + window;
      std::size_t got = 0;
      // sched_yield: a runnable thread of this process on the same core (the store writer)
      // gets the gap rather than having to preempt later, in the middle of requests.
      while (got == 0 && !ioc.stopped() && SteadyClock::now() < until) {
        sched_yield();
        got = ioc.poll();
      }
      if (got > 0) continue;
    }
    if (ioc.run_one() == 0) break;  // stopped, or out of work
  }
}

}  // namespace triage::net

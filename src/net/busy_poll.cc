#include "net/busy_poll.h"

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
  while (!ioc.stopped()) {
    if (ioc.poll() > 0) continue;
    if (h.awaiting_upstream > 0 && h.reply_ewma_us < window.count()) {
      const SteadyTime until = SteadyClock::now() + window;
      std::size_t ran = 0;
      while (ran == 0 && !ioc.stopped() && SteadyClock::now() < until) ran = ioc.poll();
      if (ran > 0) continue;
    }
    if (ioc.run_one() == 0) break;  // stopped, or out of work
  }
}

}  // namespace triage::net

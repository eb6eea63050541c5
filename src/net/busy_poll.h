#pragma once
// Adaptive busy polling for the I/O threads. On this kind of machine (a VM on loopback) waking a
// sleeping thread costs ~85 us, and a proxied request sleeps twice: waiting for the client and
// waiting for the upstream. When the upstream answers fast (a local model server, a cache), the
// second sleep is most of the gateway's added latency. So, while a request on this thread awaits
// an upstream reply and this thread's recent upstream replies came within `window`, the thread
// polls (epoll with no timeout) instead of sleeping, for at most `window`. Upstreams that take
// longer (hosted LLMs: hundreds of ms) never trigger it, a thread with nothing in flight always
// sleeps, and so does a thread busy more than half of the last 10 ms (at saturation spinning
// only takes the gaps from other work). `server.busy_poll_us` sets the window (default 200; 0 = off; docs/config.md).
//
// Threading: the counters are thread_local and belong to the thread running the io_context;
// UpstreamWait must be created and destroyed on that thread (coroutines of one io_context run
// on its one thread).
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>

#include "common/clock.h"

namespace triage::net {

struct PollHint {
  int awaiting_upstream = 0;          // upstream replies awaited by requests on this thread
  int64_t reply_ewma_us = INT64_MAX;  // smoothed wait for an upstream's response head
};

PollHint& poll_hint();  // this thread's

// Marks a wait for an upstream's response head; done() records how long it took.
class UpstreamWait {
 public:
  UpstreamWait();
  ~UpstreamWait();
  UpstreamWait(const UpstreamWait&) = delete;
  UpstreamWait& operator=(const UpstreamWait&) = delete;
  void done();  // the head arrived (not called on errors: they do not teach the average)

 private:
  SteadyTime start_;
  bool open_ = true;
};

// Runs `ioc` until it is stopped or out of work, like io_context::run(), busy polling as
// described above when `window` > 0.
void run_io(boost::asio::io_context& ioc, std::chrono::microseconds window);

}  // namespace triage::net

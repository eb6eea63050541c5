#pragma once
// A counting semaphore for coroutines on any executor: limits in-flight calls to one model
// across all I/O threads. Waiters are served first-in first-out; a waiter gives up at its
// deadline. Thread-safe.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "common/clock.h"

namespace triage::routes {

class ConcurrencyGate {
 public:
  explicit ConcurrencyGate(int64_t limit) : limit_(limit) {}  // limit <= 0: unlimited

  // Waits for a slot until `deadline`; true when a slot was taken (call release() later).
  boost::asio::awaitable<bool> acquire(SteadyTime deadline);
  void release();
  int64_t limit() const { return limit_; }
  // True when a new caller would have to wait (every slot taken, or others already waiting).
  bool full() const;
  int64_t in_use() const;
  int64_t waiting() const;

 private:
  struct Waiter;
  const int64_t limit_;
  mutable std::mutex mu_;
  int64_t in_use_ = 0;                          // guarded by mu_
  std::deque<std::shared_ptr<Waiter>> queue_;   // guarded by mu_
};

// Releases a taken slot when it goes out of scope.
class GateSlot {
 public:
  GateSlot() = default;
  explicit GateSlot(ConcurrencyGate* gate) : gate_(gate) {}
  GateSlot(GateSlot&& o) noexcept : gate_(o.gate_) { o.gate_ = nullptr; }
  GateSlot& operator=(GateSlot&&) = delete;
  ~GateSlot() { reset(); }
  // Gives the slot back now (before a retry's backoff, say).
  void reset() {
    if (gate_) gate_->release();
    gate_ = nullptr;
  }

 private:
  ConcurrencyGate* gate_ = nullptr;
};

}  // namespace triage::routes

#pragma once
// The bounded queue between the request path and a request store's writer thread, shared by
// every backend (SqliteStore, PgStore) so that they keep one contract (request_store.h).
//
// Producers (I/O threads, the review sink) hand finished traces and review entries over
// without blocking and without I/O. One writer thread takes everything pending as a batch
// when one is due: a full batch, the oldest item flush_interval_ms old, a flush() waiting, or
// stop(). The bound is `capacity` traces accepted but not yet settled (pending or being
// written), plus as many review entries; beyond it an item is dropped and counted (logged at
// most once a second).
//
// Threading: push, push_review, flush, hold, release, stop and the counters from any thread;
// take, between_rows, committed, settle and sleep_until from the writer thread only.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/background_thread.h"
#include "common/clock.h"
#include "core/trace.h"
#include "telemetry/request_store.h"

namespace triage::telemetry {

struct WriteQueueOptions {
  std::string where;                // the store, for log lines (never a password)
  int64_t capacity = 100000;        // >= 1
  int64_t batch_size = 512;         // >= 1: a batch is due once this many traces wait
  int64_t flush_interval_ms = 200;  // >= 0: longest a queued item waits
};

class WriteQueue {
 public:
  explicit WriteQueue(WriteQueueOptions options);

  // Producers. `full_why` names the cause in the drop's log line ("queue full, database
  // unreachable").
  void push(const core::TracePtr& trace, const char* full_why = "queue full");
  bool push_review(ReviewEntry entry);  // false: dropped (full or stopped), counted
  // Waits until everything pushed before the call is committed, at most timeout_ms.
  bool flush(int64_t timeout_ms);
  // While held, take() hands nothing out (a test and maintenance hook); stop() releases.
  void hold();
  void release();
  // Refuses new items and wakes the writer: take() hands out what is left, then returns false.
  // The writer may retry a failing write until now + drain_timeout_ms (sleep_until says when
  // to give up).
  void stop(int64_t drain_timeout_ms = 0);

  // Writer thread. Blocks until a batch is due, then swaps everything pending into `batch` and
  // `reviews` (which must be empty); false once stopped with nothing left.
  bool take(std::vector<core::TracePtr>& batch, std::vector<ReviewEntry>& reviews);
  // Between two rows of what take() handed out: ends the writer's turn on a shared core
  // (common/background_thread.h, TurnPacer; a take() that waited starts a turn, one that did
  // not continues it, so a long commit ends the turn at the next batch's first row). The
  // pauses are short while the writer is behind() and its core not contended, or far_behind().
  // Returns the pause in ns (0: none).
  long long between_rows() { return pacer_.between_units(behind(), far_behind()); }
  // More than kBehindBatches batches accepted and not yet written: the writer is not keeping
  // up within a fifth of a core (a burst, or several I/O threads' rows) and pauses briefly.
  bool behind() const { return queued() > kBehindBatches * options_.batch_size; }
  // A quarter of the bound taken: rows will soon be dropped, so brief pauses even on a
  // contended core (where they let the writer's turns run back to back).
  bool far_behind() const { return queued() > options_.capacity / 4; }
  static constexpr int64_t kBehindBatches = 4;
  // Everything the last take() handed out is written or dropped: flush() waiters for it return.
  void committed();
  // `written` rows stored and `dropped` given up (count_drop them too) leave the bound.
  void settle(int64_t written, int64_t dropped);
  void count_drop(int64_t n, const char* why);
  // Sleeps until `until` (woken early by stop()); false when stopping and past the drain
  // deadline, i.e. time to count what is left as lost.
  bool sleep_until(SteadyTime until);

  int64_t queued() const { return queued_.load(std::memory_order_relaxed); }
  int64_t written() const { return written_.load(std::memory_order_relaxed); }
  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  bool full() const { return queued() >= options_.capacity; }
  int64_t batch_size() const { return options_.batch_size; }

 private:
  const WriteQueueOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;          // the writer waits here
  std::condition_variable flushed_cv_;  // committed_seq_ advanced
  std::vector<core::TracePtr> pending_;       // guarded by mu_
  std::vector<ReviewEntry> pending_reviews_;  // guarded by mu_; bounded by capacity
  uint64_t enqueued_seq_ = 0;   // guarded by mu_: items ever accepted (traces + reviews)
  uint64_t taken_seq_ = 0;      // guarded by mu_: enqueued_seq_ as of the last take()
  uint64_t committed_seq_ = 0;  // guarded by mu_: taken_seq_ as of the last committed()
  int flush_waiters_ = 0;       // guarded by mu_: flush() callers waiting; the writer skips the timer
  SteadyTime oldest_pending_;   // guarded by mu_: when pending became non-empty
  SteadyTime drain_deadline_;   // guarded by mu_: set by stop()
  bool stopping_ = false;       // guarded by mu_
  bool held_ = false;           // guarded by mu_
  bool writer_waiting_ = false;  // guarded by mu_: producers notify only when set

  TurnPacer pacer_;  // writer thread only
  std::atomic<int64_t> queued_{0};  // pending + taken but not settled (the bound)
  std::atomic<int64_t> written_{0};
  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> last_drop_log_ms_{0};
};

}  // namespace triage::telemetry

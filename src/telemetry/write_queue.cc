#include "telemetry/write_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>

namespace triage::telemetry {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

}  // namespace

WriteQueue::WriteQueue(WriteQueueOptions options) : options_(std::move(options)) {
  if (options_.capacity < 1 || options_.batch_size < 1 || options_.flush_interval_ms < 0) {
    throw std::runtime_error("request store " + options_.where +
                             ": queue_capacity and batch_size must be >= 1, "
                             "flush_interval_ms >= 0");
  }
  pending_.reserve(static_cast<size_t>(std::min<int64_t>(options_.batch_size, 1 << 16)));
}

void WriteQueue::push(const core::TracePtr& trace, const char* full_why) {
  // Reserve a slot first so that the bound covers rows being written, not only pending ones.
  if (queued_.fetch_add(1, std::memory_order_relaxed) >= options_.capacity) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    count_drop(1, full_why);
    return;
  }
  bool accepted = false;
  bool notify = false;
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      accepted = true;
      pending_.push_back(trace);
      ++enqueued_seq_;
      const size_t n = pending_.size();
      const bool first = n == 1 && pending_reviews_.empty();
      if (first) oldest_pending_ = SteadyClock::now();
      // The writer needs waking only to start a flush timer or for a full batch.
      notify = writer_waiting_ && (first || n == static_cast<size_t>(options_.batch_size));
      if (notify) writer_waiting_ = false;
    }
  }
  if (!accepted) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    count_drop(1, "store closed");
    return;
  }
  if (notify) cv_.notify_one();
}

bool WriteQueue::push_review(ReviewEntry entry) {
  bool accepted = false;
  bool notify = false;
  {
    std::lock_guard lk(mu_);
    if (!stopping_ && static_cast<int64_t>(pending_reviews_.size()) < options_.capacity) {
      accepted = true;
      pending_reviews_.push_back(std::move(entry));
      ++enqueued_seq_;
      if (pending_reviews_.size() == 1 && pending_.empty()) {
        oldest_pending_ = SteadyClock::now();
        notify = writer_waiting_;
        if (notify) writer_waiting_ = false;
      }
    }
  }
  if (!accepted) {
    count_drop(1, "review entry: queue full or store closed");
    return false;
  }
  if (notify) cv_.notify_one();
  return true;
}

bool WriteQueue::flush(int64_t timeout_ms) {
  std::unique_lock lk(mu_);
  const uint64_t target = enqueued_seq_;
  if (committed_seq_ >= target) return true;
  ++flush_waiters_;
  writer_waiting_ = false;
  cv_.notify_one();
  const bool done = flushed_cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                                         [&] { return committed_seq_ >= target; });
  --flush_waiters_;
  return done;
}

void WriteQueue::hold() {
  std::lock_guard lk(mu_);
  held_ = true;
}

void WriteQueue::release() {
  {
    std::lock_guard lk(mu_);
    held_ = false;
  }
  cv_.notify_all();
}

void WriteQueue::stop(int64_t drain_timeout_ms) {
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      drain_deadline_ = SteadyClock::now() + std::chrono::milliseconds(drain_timeout_ms);
    }
    stopping_ = true;
    held_ = false;
  }
  cv_.notify_all();
}

bool WriteQueue::take(std::vector<core::TracePtr>& batch, std::vector<ReviewEntry>& reviews) {
  const auto interval = std::chrono::milliseconds(options_.flush_interval_ms);
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::unique_lock lk(mu_);
  bool waited = false;
  for (;;) {
    const bool has_work = !pending_.empty() || !pending_reviews_.empty();
    if (!held_ && has_work &&
        (stopping_ || flush_waiters_ > 0 || pending_.size() >= batch_size ||
         SteadyClock::now() >= oldest_pending_ + interval)) {
      break;
    }
    if (stopping_ && !has_work) return false;
    writer_waiting_ = true;
    if (held_ || !has_work) {
      cv_.wait(lk);
    } else {
      cv_.wait_until(lk, oldest_pending_ + interval);
    }
    writer_waiting_ = false;
    waited = true;
  }
  batch.swap(pending_);  // pending_ takes the (empty) spare buffer
  reviews.swap(pending_reviews_);
  taken_seq_ = enqueued_seq_;
  // A turn on the CPU starts when the writer wakes up. Without a wait it goes on: the commit
  // just done counts, so the next batch's first row ends the turn if the commit was long
  // (restarting here let a commit and the next 200 us of rows run as one turn of 1-3 ms).
  if (waited) pacer_.start_turn();
  return true;
}

void WriteQueue::committed() {
  {
    std::lock_guard lk(mu_);
    committed_seq_ = taken_seq_;
  }
  flushed_cv_.notify_all();
}

void WriteQueue::settle(int64_t written, int64_t dropped) {
  written_.fetch_add(written, std::memory_order_relaxed);
  queued_.fetch_sub(written + dropped, std::memory_order_relaxed);
}

void WriteQueue::count_drop(int64_t n, const char* why) {
  const int64_t total = dropped_.fetch_add(n, std::memory_order_relaxed) + n;
  const int64_t now = steady_ms();
  int64_t last = last_drop_log_ms_.load(std::memory_order_relaxed);
  if (now - last >= 1000 &&
      last_drop_log_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    spdlog::warn("request store {}: dropped {} trace(s) ({}); {} dropped in total",
                 options_.where, n, why, total);
  }
}

bool WriteQueue::sleep_until(SteadyTime until) {
  std::unique_lock lk(mu_);
  for (;;) {
    const SteadyTime now = SteadyClock::now();
    if (stopping_ && now >= drain_deadline_) return false;
    if (now >= until) return true;
    cv_.wait_until(lk, stopping_ ? std::min(until, drain_deadline_) : until);
  }
}

}  // namespace triage::telemetry

#include "control/window_counter.h"

#include <algorithm>

namespace triage::control {

namespace {
int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }
}  // namespace

WindowCounter::WindowCounter(int64_t window_ms, int buckets)
    : bucket_ms_(std::max<int64_t>(1, window_ms / std::max(1, buckets))),
      buckets_(std::max(1, buckets)),
      ring_(new Bucket[static_cast<std::size_t>(std::max(1, buckets))]) {}

WindowCounter::Bucket& WindowCounter::bucket_for(int64_t stamp) const {
  return ring_[static_cast<std::size_t>(((stamp % buckets_) + buckets_) % buckets_)];
}

void WindowCounter::add(int64_t now_ms, int slot, int64_t n) {
  const int64_t stamp = floor_div(now_ms, bucket_ms_);
  Bucket& b = bucket_for(stamp);
  if (b.stamp.load(std::memory_order_acquire) < stamp) {
    std::lock_guard lock(roll_mu_);
    if (b.stamp.load(std::memory_order_relaxed) < stamp) {
      // Counts first, stamp last: a reader that sees the new stamp sees zeroed counts.
      b.count[0].store(0, std::memory_order_relaxed);
      b.count[1].store(0, std::memory_order_relaxed);
      b.stamp.store(stamp, std::memory_order_release);
    }
  }
  b.count[static_cast<std::size_t>(slot & 1)].fetch_add(n, std::memory_order_relaxed);
}

std::array<int64_t, 2> WindowCounter::totals(int64_t now_ms) const {
  const int64_t current = floor_div(now_ms, bucket_ms_);
  std::array<int64_t, 2> sum{0, 0};
  for (int i = 0; i < buckets_; ++i) {
    const Bucket& b = ring_[static_cast<std::size_t>(i)];
    const int64_t stamp = b.stamp.load(std::memory_order_acquire);
    if (stamp == INT64_MIN || stamp <= current - buckets_) continue;
    sum[0] += b.count[0].load(std::memory_order_relaxed);
    sum[1] += b.count[1].load(std::memory_order_relaxed);
  }
  return sum;
}

void WindowCounter::clear() {
  std::lock_guard lock(roll_mu_);
  for (int i = 0; i < buckets_; ++i) {
    Bucket& b = ring_[static_cast<std::size_t>(i)];
    b.stamp.store(INT64_MIN, std::memory_order_release);
    b.count[0].store(0, std::memory_order_relaxed);
    b.count[1].store(0, std::memory_order_relaxed);
  }
}

}  // namespace triage::control

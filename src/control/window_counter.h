#pragma once
// Two counters (e.g. successes and failures, or calls and retries) over a sliding time window,
// kept in a ring of buckets. The window covers the current bucket and the buckets-1 before it:
// between window_ms - bucket width and window_ms of history. Good for rates and shares, where a
// bucket's worth of blur does not matter (the key limits, which must be exact, use a sliding
// log instead: memory_limits.h).
//
// Thread-safe. add() is lock-free except the first add in a new bucket, which resets the bucket
// it reuses under a mutex (once per bucket width). Time is caller-supplied unix or steady ms; a
// time that goes backwards adds to the newest bucket instead.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace triage::control {

class WindowCounter {
 public:
  // window_ms > 0, buckets >= 1; the bucket width is window_ms / buckets (at least 1 ms).
  WindowCounter(int64_t window_ms, int buckets);

  void add(int64_t now_ms, int slot, int64_t n = 1);  // slot 0 or 1
  std::array<int64_t, 2> totals(int64_t now_ms) const;
  // Forgets everything (a closed circuit starts a fresh window).
  void clear();

  int64_t window_ms() const { return bucket_ms_ * buckets_; }

 private:
  struct Bucket {
    std::atomic<int64_t> stamp{INT64_MIN};  // bucket number (now / bucket_ms) it holds
    std::array<std::atomic<int64_t>, 2> count{};
  };
  Bucket& bucket_for(int64_t stamp) const;

  const int64_t bucket_ms_;
  const int buckets_;
  std::unique_ptr<Bucket[]> ring_;
  std::mutex roll_mu_;  // serialises bucket resets
};

}  // namespace triage::control

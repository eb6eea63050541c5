#pragma once
// Time sources. Durations inside Triage are std::chrono; persisted values are integers with the
// unit in the name (_us, _ms). Tests inject a ManualClock instead of sleeping.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace triage {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

inline int64_t micros_between(SteadyTime a, SteadyTime b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

inline int64_t unix_time_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Wall clock in milliseconds since the epoch; an interface so that time-window logic (error
// budgets, sliding windows) can be tested without sleeping. Thread-safe.
class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual int64_t now_ms() const = 0;
};

class SystemWallClock final : public WallClock {
 public:
  int64_t now_ms() const override { return unix_time_ms(); }
};

class ManualWallClock final : public WallClock {
 public:
  explicit ManualWallClock(int64_t start_ms = 0) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  void advance_ms(int64_t d) { now_ += d; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace triage

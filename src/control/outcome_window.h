#pragma once
// A sliding time window of request outcomes, for everything that acts on recent quality: the
// SLO controller's success rate and burn rate, a progressive rollout's gates on the candidate's
// own traffic (success rate, p95 latency, cost per request, agreement with a shadowed primary).
//
// The window is `buckets` equal time slices covering `window_ms`; an outcome lands in the slice
// of its timestamp and falls out whole when its slice is older than the window, so stats() is
// exact to one slice's width. Latency is kept as a log-spaced histogram per slice (kLatencyBins
// bins from 0.1 ms to ~100 s, each ~15% wide): p95 is the upper edge of the bin holding it.
//
// Replicas sharing a store judge on the fleet's numbers (docs/scaling.md "Fleet numbers"): each
// publishes its windows' live slices (snapshot()) and computes stats over its own window plus
// the others' slices of the same width (stats(now, others)); counts and histograms add, so the
// fleet's p95 is as exact as one window's.
//
// Threading: record() and stats() may be called from any thread (one mutex per window; a record
// is a few additions). Timestamps are unix milliseconds passed in, so tests drive time.
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace triage::control {

struct Outcome {
  bool ok = false;        // the SLO's notion of success (answered, checks passed, no bad label)
  double latency_ms = 0;  // end to end, as the client saw it
  double cost_usd = 0;    // what the request cost
  std::optional<bool> agrees;  // with a shadowed primary, when one was compared
};

struct WindowStats {
  int64_t requests = 0;
  int64_t ok = 0;
  double cost_usd = 0;   // sum
  int64_t compared = 0;  // outcomes with `agrees` set
  int64_t agreed = 0;
  double p95_latency_ms = 0;  // 0 when empty

  double success_rate() const { return requests ? static_cast<double>(ok) / requests : 0.0; }
  double cost_per_request() const { return requests ? cost_usd / requests : 0.0; }
  double agreement() const { return compared ? static_cast<double>(agreed) / compared : 0.0; }
};

inline constexpr int kLatencyBins = 96;

// One time slice of a window: what snapshot() hands out and stats(now, others) takes in.
struct WindowSlice {
  int64_t start_ms = -1;  // slice-aligned unix ms; -1: never used
  int64_t requests = 0, ok = 0, compared = 0, agreed = 0;
  double cost_usd = 0;
  std::array<uint32_t, kLatencyBins> latency{};  // counts per OutcomeWindow::bin_of()
};

class OutcomeWindow {
 public:
  static constexpr int kLatencyBins = control::kLatencyBins;

  // window_ms > 0, buckets >= 1.
  explicit OutcomeWindow(int64_t window_ms, int buckets = 60);

  void record(int64_t now_ms, const Outcome& o);
  // Late news about an outcome recorded at `at_ms` (feedback, a reviewer's label): counted in
  // the slice of `at_ms` while that slice is still inside the window at `now_ms`; false (and
  // nothing changed) once it has fallen out, or when at_ms is in the future.
  // record_at: one more outcome in that slice (a label on a decision, for router accuracy).
  bool record_at(int64_t at_ms, int64_t now_ms, const Outcome& o);
  // mark_failed: one success of that slice becomes a failure (false when it has none).
  bool mark_failed(int64_t at_ms, int64_t now_ms);
  WindowStats stats(int64_t now_ms) const;
  // The slices stats(now_ms) counts that hold at least one outcome, oldest first.
  std::vector<WindowSlice> snapshot(int64_t now_ms) const;
  // Stats over this window and `others` (other replicas' slices of a window of the same width
  // and slice_ms()): a slice of `others` counts under the same rule as this window's own, so
  // stale ones drop out; slices whose start is not aligned to slice_ms() are ignored.
  WindowStats stats(int64_t now_ms, const std::vector<WindowSlice>& others) const;
  void clear();
  int64_t window_ms() const { return window_ms_; }
  int64_t slice_ms() const { return slice_ms_; }
  // Whether a slice starting at start_ms counts at now_ms: any of it lies in (now - window, now].
  bool is_live(int64_t start_ms, int64_t now_ms) const;

  // The upper edge of latency bin `i` (ms), and the bin of `latency_ms`. Pure; for tests.
  static double bin_upper_ms(int i);
  static int bin_of(double latency_ms);

 private:
  using Slice = WindowSlice;
  Slice& slice_for(int64_t now_ms);  // under mu_
  // The slice holding `at_ms` if it is still inside the window at `now_ms`; under mu_.
  Slice* live_slice(int64_t at_ms, int64_t now_ms);
  void add(Slice& s, const Outcome& o);  // under mu_

  const int64_t window_ms_;
  const int64_t slice_ms_;
  mutable std::mutex mu_;
  std::vector<Slice> slices_;  // ring indexed by (start_ms / slice_ms_) % size; guarded by mu_
};

}  // namespace triage::control

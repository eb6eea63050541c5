#pragma once
// Scheduling of the gateway's background threads (store writers, the OTLP exporter, periodic
// evaluation loops), which share cores with the I/O threads.
//
// Why: on a core shared with a saturated I/O thread, a background burst (a store batch) that
// gets the core keeps it until the next tick (4 ms at HZ=250) while a ready request waits: most
// of the p99 at 8 connections (docs/performance.md, "Why a batch holds the core for
// milliseconds"). Nice 10 alone does not help: it shrinks the thread's share, not its turns.

#include <string_view>

namespace triage {

// What make_current_thread_background() could apply (for the log and tests).
struct BackgroundSchedule {
  bool nice_applied = false;   // nice 10, or the thread's own when higher
  bool slice_applied = false;  // a custom EEVDF slice (Linux >= 6.12); older kernels ignore it
};

// The scheduler slice asked for a background thread, in ns: a turn the kernel may end as soon as
// an I/O thread wakes. 100 us is the kernel's minimum.
inline constexpr unsigned long long kBackgroundSliceNs = 100'000;

// Call on the thread itself, first thing. Names it `name` (cut to the kernel's 15 bytes: what
// `top -H`, `ps -L` and perf show), lowers it to nice 10 (or keeps a higher nice), asks for a
// kBackgroundSliceNs slice (sched_setattr) and a 1 us timer slack (TurnPacer's pauses are 20 us,
// against the default slack of 50 us); what the kernel refuses is skipped. Logs what was applied
// at debug level.
BackgroundSchedule make_current_thread_background(std::string_view name);

// The calling thread's scheduler slice in ns as the kernel reports it (sched_getattr), 0 when
// it does not say.
unsigned long long current_thread_slice_ns();

// Ends a background thread's turn on the CPU every kTurnNs of work with a short sleep. The
// scheduler ends a turn itself only at a tick (4 ms at HZ=250) when the other thread on the
// core never sleeps, which a saturated I/O thread does not: without pauses a store batch held
// the core for whole ticks however short its slice. A sleep ends the turn, and the wake-up lets
// the short slice win the core back soon (the I/O thread then waits at most one turn).
// Single-threaded: one per background thread.
class TurnPacer {
 public:
  static constexpr long long kTurnNs = 200'000;
  static constexpr long long kPauseNs = 20'000;
  // When the thread wakes up with work (its turn starts).
  void start_turn();
  // Between two units of work (a row): pauses when the turn is over; true when it paused.
  bool between_units();

 private:
  long long turn_start_ns_ = 0;  // CLOCK_MONOTONIC
};

}  // namespace triage

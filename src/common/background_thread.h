#pragma once
// Scheduling of the gateway's background threads (store writers, the OTLP exporter, periodic
// evaluation loops), which share cores with the I/O threads.
//
// Why: on a core shared with a saturated I/O thread, a background burst (a store batch) that
// gets the core keeps it until the next tick (4 ms at HZ=250) while a ready request waits: most
// of the p99 at 8 connections (docs/performance.md, "Why a batch holds the core for
// milliseconds"). A lower priority alone does not help: it shrinks the thread's share, not its
// turns.

#include <string_view>

namespace triage {

// What make_current_thread_background() could apply (for the log and tests).
struct BackgroundSchedule {
  bool nice_applied = false;   // kBackgroundNice, or the thread's own when higher
  bool slice_applied = false;  // a custom EEVDF slice (Linux >= 6.12); older kernels ignore it
};

// The nice value of a background thread. Its weight (335 against an I/O thread's 1024) gives it
// up to 25% of a core both want: the store writer needs ~14% of a core that proxies requests
// (6-7 us per row against ~40 us per request on the I/O thread) and ~22% of one that answers from
// the response cache (~25 us). At nice 10 (9.7%) it fell behind by ~5k rows/s and its full queue
// dropped 20% of the rows of a 30 s saturated run; at nice 7 (17%) cache hits still outran it
// (docs/performance.md, "Turns that chained, and a writer that could not keep up").
inline constexpr int kBackgroundNice = 5;

// The scheduler slice asked for a background thread, in ns: a turn the kernel may end as soon as
// an I/O thread wakes. 100 us is the kernel's minimum.
inline constexpr unsigned long long kBackgroundSliceNs = 100'000;

// Call on the thread itself, first thing. Names it `name` (cut to the kernel's 15 bytes: what
// `top -H`, `ps -L` and perf show), lowers it to kBackgroundNice (or keeps a higher nice), asks
// for a kBackgroundSliceNs slice (sched_setattr) and a 1 us timer slack (TurnPacer's shortest
// pause is 20 us, against the default slack of 50 us); what the kernel refuses is skipped. Logs
// what was applied at debug level.
BackgroundSchedule make_current_thread_background(std::string_view name);

// The calling thread's scheduler slice in ns as the kernel reports it (sched_getattr), 0 when
// it does not say.
unsigned long long current_thread_slice_ns();

// Ends a background thread's turn on the CPU every kTurnNs of work with a sleep. The scheduler
// ends a turn itself only at a tick (4 ms at HZ=250) when the other thread on the core never
// sleeps, which a saturated I/O thread does not: without pauses a store batch held the core for
// whole ticks however short its slice. The sleep is long (kPauseNs, four turns): woken from a
// short one, the thread is still owed CPU and takes the core back at once, so its turns ran
// back to back (a 20 us pause chained two 200 us turns into one 0.4 ms stall of every request in
// flight; docs/performance.md, "Turns that chained, and a writer that could not keep up"). A
// long pause caps the thread at a fifth of a core, so a thread that is `behind` on its work
// pauses only kCatchUpPauseNs, unless a pause ended over kLateWakeNs late in the last
// kContendedNs: the core is contended, the thread gets its share whatever it asks, and short
// pauses would only chain its turns again. A thread `far_behind` (its work would soon be
// dropped) pauses briefly even then: a longer stall of the other thread costs less than lost
// work (a cache hit costs the I/O thread ~25 us, so its row's ~7 us need over a fifth of a core).
// Single-threaded: one per background thread.
class TurnPacer {
 public:
  static constexpr long long kTurnNs = 200'000;
  static constexpr long long kPauseNs = 800'000;
  static constexpr long long kCatchUpPauseNs = 20'000;
  static constexpr long long kLateWakeNs = 200'000;
  static constexpr long long kContendedNs = 50'000'000;
  // When the thread wakes up with work (its turn starts).
  void start_turn();
  // Between two units of work (a row): pauses when the turn is over, kPauseNs, or
  // kCatchUpPauseNs when `behind` and the core is not contended, or when `far_behind`. Returns
  // the pause asked for in ns, 0 when it did not pause.
  long long between_units(bool behind = false, bool far_behind = false);

 private:
  long long turn_start_ns_ = 0;    // CLOCK_MONOTONIC
  long long contended_until_ = 0;  // CLOCK_MONOTONIC: contended until then (a late pause)
};

}  // namespace triage

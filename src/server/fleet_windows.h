#pragma once
// Fleet numbers (docs/scaling.md "Fleet numbers"): replicas sharing one store (a fleet:
// store.config_poll_ms > 0) judge SLOs and rollout gates on the counts of every replica, not
// their own. Each window the SLO controller and the rollouts keep is registered here under a
// key that means the same thing on every replica ("slo:<name>:<scope>:<scope name>:<window s>",
// "rollout:<route>:<side>"). Every period this replica publishes the live slices of each
// registered window to the store's `window_slices` table (telemetry/window_slice_db.h), then
// reads the other replicas' slices of the same keys; stats() adds them to the local window.
// A replica that has not published for kDeadAfterPeriods periods is left out; rows nobody has
// rewritten for kPruneAfterPeriods periods are deleted.
//
// Threading: add() and stats() from any thread (a short mutex; no I/O). sync() does the store
// I/O: its own worker thread (start()), or a test's; never an I/O thread.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/periodic_worker.h"
#include "config/config.h"
#include "control/outcome_window.h"
#include "telemetry/metrics.h"
#include "telemetry/window_slice_db.h"

namespace triage::server {

// A window's numbers over the fleet and how many replicas they came from (this one included).
struct FleetStats {
  control::WindowStats stats;
  int64_t replicas = 1;
};

class FleetWindows {
 public:
  static constexpr int64_t kDeadAfterPeriods = 3;
  static constexpr int64_t kPruneAfterPeriods = 10;
  using Clock = std::function<int64_t()>;  // unix ms

  // `db`: the shared store, writable. `period_ms` > 0: how often sync() runs on the worker.
  FleetWindows(std::unique_ptr<telemetry::WindowSliceDb> db, int64_t period_ms,
               telemetry::Metrics& metrics, std::string replica, Clock clock = {});
  ~FleetWindows();  // stop()

  // The fleet of a gateway config: null (logged) unless store.config_poll_ms > 0 and the store
  // can be read back and written (then the period is config_poll_ms, the name replica_id()).
  static std::unique_ptr<FleetWindows> open(const config::Config& cfg, telemetry::Metrics& metrics);

  void start();  // sync() every period_ms on its own thread, the first after one period
  void stop();   // idempotent

  // Publishes `window` under `key` from the next sync() on, replacing the window registered
  // under that key before. Held weakly: a window its owner dropped is no longer published.
  void add(const std::string& key, std::weak_ptr<const control::OutcomeWindow> window);

  // One period's work at now_ms: publish this replica's live slices, read the others'.
  void sync(int64_t now_ms);

  // `local` (the window registered under `key`) plus the other replicas' slices of `key` as of
  // the last sync(), at now_ms. Slices that end at or before `since_ms` are not counted (a
  // rollout step's start; `local` is cleared then). Without others: local's stats, replicas 1.
  FleetStats stats(const std::string& key, const control::OutcomeWindow& local, int64_t now_ms,
                   int64_t since_ms = 0) const;

  const std::string& replica() const { return replica_; }
  int64_t period_ms() const { return period_ms_; }

 private:
  struct OtherSlice {
    std::string replica;
    control::WindowSlice slice;
  };
  // The registered windows' live slices as store rows; drops windows that are gone.
  std::vector<telemetry::StoredWindowSlice> collect(int64_t now_ms, std::vector<std::string>& keys);

  const std::unique_ptr<telemetry::WindowSliceDb> db_;
  const int64_t period_ms_;
  telemetry::Metrics& metrics_;
  const std::string replica_;
  const Clock clock_;

  mutable std::mutex mu_;
  std::map<std::string, std::weak_ptr<const control::OutcomeWindow>> windows_;  // guarded by mu_
  std::map<std::string, std::vector<OtherSlice>> others_;  // by key; guarded by mu_
  int64_t syncs_ = 0;                                      // sync() thread only
  bool failing_ = false;  // sync() thread only: the last publish failed (logged once)

  // Last: its thread uses the members above, so it stops before they go.
  PeriodicWorker worker_{"fleet windows", [this] { sync(clock_()); },
                         [this] { return period_ms_; }};
};

// The histogram of a slice as stored ("BIN:COUNT,..." of the non-empty bins), and back (bad
// entries are skipped). Pure.
std::string encode_latency(const std::array<uint32_t, control::kLatencyBins>& latency);
std::array<uint32_t, control::kLatencyBins> decode_latency(const std::string& text);

}  // namespace triage::server

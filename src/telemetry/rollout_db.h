#pragma once
// The state of progressive rollouts (docs/rollout.md, server/rollouts.h), kept in the request
// store so that it survives a restart: table `rollouts` (one row per split route with a
// rollout: its state, step and baseline) and `rollout_events` (the timeline). Schema
// version 9.
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace triage::telemetry {

struct StoredRollout {
  std::string route;        // the split route
  std::string fingerprint;  // control::RolloutSpec::fingerprint() of the spec it ran
  std::string state;        // control::rollout_state_name()
  int64_t step = -1;
  int64_t step_started_ms = 0;
  int64_t updated_ms = 0;
  // The reference the gates compared with (control::RolloutBaseline); requests 0: none.
  int64_t baseline_requests = 0;
  double baseline_success = 0;
  double baseline_p95_ms = 0;
  double baseline_cost = 0;
};

struct StoredRolloutEvent {
  int64_t ts_ms = 0;
  std::string route;
  std::string kind;   // started, advanced, promoted, rolled_back, paused, resumed, aborted, ...
  std::string state;  // after the event
  int64_t step = -1;
  double percent = 0;  // the candidate's share after the event
  std::string reason;
  int64_t config_version = 0;
};

// Durable writes (each its own fsynced transaction; need StoreReaderOptions::review_writes).
// Thread-safe. A store older than schema version 9 reads as empty.
class RolloutDb {
 public:
  virtual ~RolloutDb() = default;
  virtual Result<std::vector<StoredRollout>> list_rollouts() = 0;
  virtual Result<void> save_rollout(const StoredRollout& r) = 0;  // insert or replace by route
  virtual Result<void> insert_rollout_event(const StoredRolloutEvent& e) = 0;
  // The latest `limit` events of `route`, oldest first.
  virtual Result<std::vector<StoredRolloutEvent>> list_rollout_events(const std::string& route,
                                                                      int64_t limit) = 0;
};

}  // namespace triage::telemetry

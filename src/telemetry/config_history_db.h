#pragma once
// The history of applied config versions (docs/config_versions.md), kept in the request store
// (table `config_versions`, schema version 6): one row per version, with who applied it, when,
// why, and the YAML as applied (which names env vars and digests, never a secret); and the
// knob moves made at run time (table `knob_events`).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace triage::telemetry {

struct StoredConfigVersion {
  int64_t seq = 0;  // 1, 2, ... per store
  std::string sha256;
  int64_t applied_ms = 0;  // unix ms
  std::string who;         // "startup" | "sighup" | "admin" | "admin:NAME" (x-triage-actor)
  std::string reason;      // free text; may be empty
  std::string yaml;        // empty in list_config_versions() without YAML
};

// A knob moved at run time (PUT /admin/knobs): table `knob_events`.
struct StoredKnobEvent {
  int64_t ts_ms = 0;  // unix ms
  std::string route;
  std::string knob;  // routes::Knob::name(), e.g. "children[1].weight"
  double before = 0;
  double after = 0;
  std::string who;     // "admin", "controller:<slo>", "rollout:<route>"
  std::string reason;  // may be empty
  int64_t config_version = 0;  // the version whose knob moved
  std::string replica;  // common/ids.h replica_id() of the mover; empty before schema v11
  int64_t id = 0;       // the store's sequence (increasing); 0 until recorded
  bool observe = false;  // recorded only (observe mode): the knob did not move
};

// Where the SLO controller left a knob (docs/slo.md "State"): table `slo_state`, one row per
// SLO with an action, so its position and hold survive a restart (schema version 9).
struct StoredSloState {
  std::string slo;  // the SLO's name
  std::string route;
  std::string knob;
  double file_value = 0;  // the file's value of the knob when the controller moved it
  double value = 0;       // where the controller put it (observe mode: where it would have)
  int64_t last_move_ms = 0;  // unix ms; 0: never moved
  bool observe = false;
};

// Durable writes: each insert is its own committed (fsynced) transaction. Thread-safe.
class ConfigHistoryDb {
 public:
  virtual ~ConfigHistoryDb() = default;
  // Every version, by seq; the YAML only with `with_yaml`. Empty for a store older than
  // schema version 6 (no history yet).
  virtual Result<std::vector<StoredConfigVersion>> list_config_versions(bool with_yaml) = 0;
  // Version `seq` with its YAML; nullopt when there is none.
  virtual Result<std::optional<StoredConfigVersion>> find_config_version(int64_t seq) = 0;
  // Needs a writable reader (StoreReaderOptions::review_writes). Error when `seq` exists.
  virtual Result<void> insert_config_version(const StoredConfigVersion& v) = 0;
  // Knob moves, newest first, at most `limit`; empty for a store older than version 6.
  virtual Result<std::vector<StoredKnobEvent>> list_knob_events(int64_t limit) = 0;
  // Knob moves of `config_version` with an id greater than `after_id`, oldest first (the
  // knob follower, server/knob_moves.h); empty for a store older than version 6.
  virtual Result<std::vector<StoredKnobEvent>> list_knob_events_after(int64_t after_id,
                                                                      int64_t config_version) = 0;
  // Needs a writable reader, as insert_config_version. Ignores e.id (the store assigns it).
  virtual Result<void> insert_knob_event(const StoredKnobEvent& e) = 0;
  // The SLO controller's state, by SLO name; empty for a store older than version 9.
  virtual Result<std::vector<StoredSloState>> list_slo_states() = 0;
  // Inserts or replaces the row of s.slo. Needs a writable reader.
  virtual Result<void> save_slo_state(const StoredSloState& s) = 0;
};

}  // namespace triage::telemetry

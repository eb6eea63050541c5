#pragma once
// The one way a knob moves at run time, for every mover: a person (PUT /admin/knobs), the SLO
// controller, a progressive rollout. A move is checked against the knob's range and step,
// recorded first (who, why, before, after, config version: the store's `knob_events`, or memory
// without a store), then applied, then counted in triage_knob_moves_total{route,knob}. A move
// that cannot be recorded is not made.
//
// Threading: move() and last_move() may be called from any thread; one mutex serialises moves,
// so two movers never interleave a record and a set. The knobs themselves are atomics
// (routes/knob.h): a request reads one once, so a move affects whole requests only.
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "common/ids.h"
#include "common/result.h"
#include "server/config_versions.h"
#include "telemetry/config_history_db.h"
#include "telemetry/metrics.h"

namespace triage::routes {
class Knob;
}

namespace triage::server {

struct KnobMove {
  std::string route;  // a route of the serving version
  std::string knob;   // routes::Knob::name(), e.g. "children[1].weight"
  double value = 0;   // within the knob's range and on its step
  std::string who;    // "admin" | "admin:NAME", "controller:<slo>", "rollout:<route>"
  std::string reason;
};

// The knob `knob_name` of route `route_name` in `serving`, or null.
routes::Knob* find_knob(const Serving& serving, const std::string& route_name,
                        const std::string& knob_name);

class KnobMoves {
 public:
  // `replica`: the name this process records its moves under (common/ids.h replica_id();
  // tests give each replica its own).
  KnobMoves(ConfigVersions& versions, telemetry::Metrics& metrics,
            std::string replica = replica_id())
      : versions_(versions), metrics_(metrics), replica_(std::move(replica)) {}

  // Moves the knob on the version serving now. Errors: kNotFound (no such route or knob, the
  // message says where to look), kInvalidRequest with param "value" (outside the range or off
  // the step), or the store's error when the event cannot be recorded.
  Result<telemetry::StoredKnobEvent> move(const KnobMove& m);
  // Observe mode (docs/slo.md): checks and records the move like move() (`before` as given:
  // the observer's own position), but neither sets the knob nor counts it as a move.
  Result<telemetry::StoredKnobEvent> record_only(const KnobMove& m, double before);
  // Replicas sharing one store (store.config_poll_ms > 0, docs/scaling.md "Knobs across
  // replicas"): applies the moves other replicas recorded on the serving version since the
  // last call (the last event per knob wins; this replica's own are skipped: applied when
  // made; observe-mode records moved nothing), without recording or counting them again. A new serving version starts from its
  // first event (its knobs start at the file's values), so a replica that joins applies the
  // version's moves so far. The number of knobs set. Blocking (a store read): the config
  // follower's thread, never an I/O thread.
  Result<int> follow_store();
  // The last move of (config version, route, knob), if any was made in (or followed by) this
  // process.
  std::optional<telemetry::StoredKnobEvent> last_move(int64_t config_version,
                                                      const std::string& route,
                                                      const std::string& knob) const;

 private:
  // The knob of `m` on the version serving now, after checking m.value against its range and
  // step; under mu_.
  Result<routes::Knob*> checked_knob(const KnobMove& m, const Serving& serving) const;

  ConfigVersions& versions_;
  telemetry::Metrics& metrics_;
  const std::string replica_;
  mutable std::mutex mu_;  // serialises moves; guards last_move_
  std::map<std::tuple<int64_t, std::string, std::string>, telemetry::StoredKnobEvent> last_move_;
  int64_t followed_version_ = 0;  // under mu_: the version follow_store() read events of
  int64_t followed_id_ = 0;       // under mu_: the newest event id it read
};

}  // namespace triage::server

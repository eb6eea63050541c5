#pragma once
// Error budgets that move traffic (docs/slo.md): the SLO controller.
//
// Measures every SLO of the serving config version over a sliding window
// (control/outcome_window.h), fed by
//   - every finished trace (this is a trace sink): success = answered without an error, final
//     checks and verification passed (client errors, cache hits and shadow runs do not count);
//   - late news (feedback, reviewer labels) on requests still in the window: negative feedback
//     or an "incorrect" label turns that request's success into a failure in the slice it was
//     counted in; a label on a request served by a `router:` SLO's route is one labelled
//     decision (agreement: the label's sufficient_tier is the tier served, or, without one,
//     the verdict is "correct").
// evaluate() (a timer thread, every slo_controller.interval_ms) publishes each SLO's success,
// burn rate and remaining budget (metrics) and applies control/slo_policy.h to each SLO with an
// action, moving its knob through KnobMoves (who "controller:<slo>"; observe mode records the
// event with who "controller:<slo> (observe)" and moves nothing).
//
// Fleet numbers (docs/scaling.md): with set_fleet(), each SLO's window is published under
// slo_window_key() and evaluate() and status() judge on the fleet's counts (this replica's
// window plus the others' published slices) instead of this replica's alone.
//
// State: per SLO with an action, the knob position it set, the file's value it moved from and
// the last move's time, saved in the store (table slo_state) at every move. At start-up and on
// every new config version the position is re-applied when the file's value of that knob is
// the one it moved from; otherwise the controller starts again from the file's value.
//
// Threading: consume() and the late_*() calls from any thread (I/O threads, the admin API's
// workers): a short mutex for the SLO set and the recent-request index, then the windows' own
// mutexes. evaluate() runs on the controller's thread (or a test's); it does blocking work
// (store writes through KnobMoves), never on an I/O thread. status() from any thread.
#include <boost/json/object.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/periodic_worker.h"
#include "config/slo_config.h"
#include "control/outcome_window.h"
#include "control/slo_policy.h"
#include "core/trace.h"
#include "server/config_versions.h"
#include "server/fleet_windows.h"
#include "server/knob_moves.h"
#include "server/leadership.h"
#include "telemetry/metrics.h"

namespace triage::server {

// Whether a finished trace is a success for SLOs (nullopt: it does not count: a client error,
// a cache hit, a shadow run). Pure.
std::optional<bool> slo_success(const core::Trace& t);

// The key an SLO's window is published under: what it measures ("slo:NAME:SCOPE:SCOPE_NAME:
// WINDOW_S"), so that replicas on different config versions share it only when it means the
// same counts. Pure.
std::string slo_window_key(const config::Slo& slo);

class SloController final : public core::TraceSink {
 public:
  using Clock = std::function<int64_t()>;  // unix ms

  // Loads the saved state (ConfigVersions::slo_states). Nothing runs until start() or a call
  // to evaluate().
  SloController(ConfigVersions& versions, KnobMoves& moves, telemetry::Metrics& metrics,
                Clock clock = {});
  ~SloController() override;  // stop()

  // In a fleet only the leader acts (docs/scaling.md "One controller"): every replica measures
  // and publishes its SLOs, the leader alone moves knobs and saves the state, and a replica
  // that becomes leader reloads the saved state first. Without one (tests), always acts.
  // Call before start(); `leadership` must outlive this object.
  void set_leadership(const Leadership* leadership) { leadership_ = leadership; }

  // Applies the serving version (restoring saved positions) at once, then evaluates every
  // slo_controller.interval_ms on its own thread until stop().
  void start();
  void stop();  // idempotent
  // Judge on the fleet's numbers from now on (null: this replica's only). Before start();
  // `fleet` outlives this controller.
  void set_fleet(FleetWindows* fleet);

  void consume(const core::TracePtr& trace) override;
  // Late news on a request (from the feedback/review API, after it committed).
  void late_feedback(const std::string& request_id, double score);
  void late_label(const std::string& request_id, bool correct, const std::string& sufficient_tier);

  // One evaluation at `now_ms`: picks up a new config version first.
  void evaluate(int64_t now_ms);
  // GET /admin/slos: {"config_version", "interval_ms", "data": [{"name", "scope": {KIND: NAME},
  // "target", "window_s", "min_requests", "mode", "requests", "success_ratio",
  // "burn_rate", "budget_remaining", "replicas", "verdict", "action": {...} | null, "controller": {...} | null}]}
  boost::json::object status(int64_t now_ms) const;

 private:
  struct Tracked {
    config::Slo slo;
    std::shared_ptr<control::OutcomeWindow> window;
  };
  struct SloSet {
    int64_t seq = 0;
    std::vector<Tracked> slos;
    int64_t longest_window_ms = 0;
    std::vector<std::string> tiers;  // the config's, cheapest first
  };
  // What the controller knows of one SLO with an action.
  struct Control {
    std::string route, knob;
    double file_value = 0;
    std::optional<double> position;  // where it put the knob; observe: its virtual position
    bool observe = false;
    control::SloPolicyState policy;
    control::SloDecision last;  // the latest evaluation
    bool restored = false;      // loaded from the store, not yet matched to a version
  };
  // A request counted by some SLO, for late news while it is in the window.
  struct Recent {
    int64_t counted_ms = 0;  // the slice it was counted in
    std::string model, tier, route;
    bool ok = false;          // counted as a success
    bool late_failed = false;  // already turned into a failure
    // A `router:` SLO's verdict on this decision, once judged (a shadow's comparison or a
    // label): each decision counts once; a label saying wrong overturns a shadow's right.
    std::optional<bool> router_verdict;
  };

  std::shared_ptr<const SloSet> current_set() const;
  // The SLO's numbers: its window's, plus the other replicas' in fleet mode.
  FleetStats window_stats(const Tracked& t, int64_t now_ms) const;
  // Registers the set's windows with the fleet (fleet mode only).
  void share_windows(const SloSet& set);
  // A shadow candidate's comparison with the answer it shadowed, as a verdict on the router
  // decision that chose the served tier (docs/slo.md "Router accuracy").
  void judge_by_shadow(const core::Trace& shadow);
  static int tier_rank(const SloSet& set, const std::string& tier);  // -1: not a tier
  void record_router_verdict(const SloSet& set, const Recent& r, bool correct, int64_t now_ms);
  // A new config version: new set (windows kept for SLOs that measure the same), knob file
  // values read, saved positions re-applied. Controller thread.
  void adopt(const Serving& serving, int64_t now_ms, bool leading);
  // Whether this replica acts at this evaluation; on becoming leader, reloads the saved state
  // (another leader moved since) and has adopt() run again. Controller thread.
  bool leading_now();
  // The saved state (ConfigVersions::slo_states) as controls_, each to be matched to a version.
  void load_saved();
  void restore(const config::Slo& slo, Control& c, const Serving& serving);
  void act(const Tracked& t, Control& c, const control::WindowStats& w, const Serving& serving,
           int64_t now_ms);
  void save(const std::string& slo, const Control& c);
  void prune_recent(int64_t now_ms, int64_t keep_ms);

  ConfigVersions& versions_;
  KnobMoves& moves_;
  telemetry::Metrics& metrics_;
  Clock clock_;
  FleetWindows* fleet_ = nullptr;  // set before start(); null: this replica's numbers only

  mutable std::mutex set_mu_;
  std::shared_ptr<const SloSet> set_;  // guarded by set_mu_
  std::atomic<bool> has_slos_{false};  // set_ has SLOs: consume() returns at once without

  mutable std::mutex control_mu_;  // guards controls_ (evaluate vs status)
  std::map<std::string, Control> controls_;

  const Leadership* leadership_ = nullptr;  // null: always leads
  bool was_leading_ = true;  // controller thread only; the state was loaded at construction
  bool readopt_ = false;     // controller thread only

  std::mutex recent_mu_;  // guards recent_, recent_order_
  std::unordered_map<std::string, Recent> recent_;
  std::deque<std::pair<int64_t, std::string>> recent_order_;  // (counted_ms, request id)

  // Last: its thread uses the members above, so it stops before they go.
  PeriodicWorker worker_{"SLO controller", [this] { evaluate(clock_()); },
                         [this] { return versions_.current()->cfg().slo_controller.interval_ms; }};
};

}  // namespace triage::server

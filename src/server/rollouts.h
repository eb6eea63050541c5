#pragma once
// Progressive rollouts on split routes (docs/rollout.md): runs the `rollout:` block of every
// split of the serving config version. It is a trace sink (each finished trace's
// Trace::split_choices feed one window of outcomes per side: the candidate, the others, and
// the shadow comparisons of each), evaluates every rollout's gates on a timer thread
// (control/rollout.h decides), and moves the split's weights through KnobMoves
// (who "rollout:<route>") so the candidate's share is the step's percent.
//
// State survives a restart (the store's `rollouts` and `rollout_events`, schema v9; memory
// only without a store) and a hot reload whose rollout block is unchanged (same
// RolloutSpec::fingerprint()): the new version's weights are moved to the rollout's step.
// A changed or new block starts over (pending; running at the next evaluation unless
// `start: manual`).
//
// Fleet numbers (docs/scaling.md): with set_fleet(), each rollout's windows are published
// under "rollout:<route>:<side>" and the gates judge the fleet's counts since the step began.
//
// Threading: consume() runs on I/O threads: it copies a shared_ptr under a short mutex and
// records into the windows (each has its own mutex); it never waits for the store. tick(),
// command() and list() are serialised by work_mu_ and do the store writes and knob moves;
// the timer thread calls tick(), the rollouts API's worker the others.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include "common/periodic_worker.h"
#include "common/clock.h"
#include "common/result.h"
#include "config/config.h"
#include "control/outcome_window.h"
#include "control/rollout.h"
#include "core/trace.h"
#include "server/config_versions.h"
#include "server/fleet_windows.h"
#include "server/knob_moves.h"
#include "server/leadership.h"
#include "telemetry/metrics.h"
#include "telemetry/rollout_db.h"
#include "telemetry/store_reader.h"

namespace triage::routes {
class SplitRoute;
}

namespace triage::server {

// One rollout as the admin API shows it.
struct RolloutView {
  std::string route;
  control::RolloutSpec spec;
  control::RolloutStatus status;
  std::optional<double> percent;  // nullopt while pending
  std::vector<control::GateCheck> gates;
  control::WindowStats candidate, others, candidate_agreement, others_agreement;
  int64_t replicas = 1;  // how many replicas the numbers came from (fleet mode), this one included
  std::vector<std::pair<std::string, double>> weights;  // child route -> weight now
  std::vector<telemetry::StoredRolloutEvent> events;     // oldest first
};

enum class RolloutCommand { kStart, kPause, kResume, kAbort };

class Rollouts final : public core::TraceSink {
 public:
  // `cfg`: the start-up config (its store holds the state). Reads the persisted state at the
  // first tick. `clock`: unix ms, for the timer and for when consume() records an outcome
  // (tests inject one).
  Rollouts(const config::Config& cfg, ConfigVersions& versions, KnobMoves& moves,
           telemetry::Metrics& metrics, std::function<int64_t()> clock = unix_time_ms);
  ~Rollouts() override;  // close()

  // In a fleet only the leader evaluates gates, moves weights, records events and takes
  // commands (docs/scaling.md "One controller"); a follower reads the leader's saved state
  // (list() shows it) and its commands answer 409 naming the leader. A replica that becomes
  // leader starts from the saved state. Without one (tests), always leads. Call before
  // start_timer(); `leadership` must outlive this object.
  void set_leadership(const Leadership* leadership) { leadership_ = leadership; }

  // Starts the timer thread: tick() every min(evaluate_every_ms) of the serving rollouts
  // (1 s when there are none). Idempotent.
  void start_timer();
  // Stops the timer thread. Idempotent.
  void close();
  // Judge the gates on the fleet's numbers from now on (null: this replica's only). Before
  // start_timer(); `fleet` outlives this object.
  void set_fleet(FleetWindows* fleet);

  void consume(const core::TracePtr& trace) override;

  // Follows the serving config version, starts auto rollouts, evaluates running ones and
  // moves weights. The timer's work; tests call it directly.
  void tick(int64_t now_ms);
  // POST /admin/rollouts/{start,pause,resume,abort}: the event (its reason names `who`), or
  // kNotFound (no rollout on `route`) / kInvalidRequest (the command does not apply in the
  // rollout's state) / on a follower kUnavailable with param kNotLeaderParam, the message
  // naming the leader (the API answers it 409).
  Result<control::RolloutEvent> command(const std::string& route, RolloutCommand c,
                                        int64_t now_ms, const std::string& who = "admin");
  std::vector<RolloutView> list(int64_t now_ms);
  static constexpr std::string_view kNotLeaderParam = "leader";

 private:
  // Outcomes since the current step started, per side. Shared with consume().
  struct Windows {
    Windows(std::string candidate, int64_t window_ms);
    std::string candidate;
    std::atomic<int64_t> since_ms{0};  // requests that arrived before are not counted
    control::OutcomeWindow candidate_outcomes, other_outcomes;
    control::OutcomeWindow candidate_agreement, other_agreement;
    void restart(int64_t now_ms);
  };
  using WindowMap = std::map<std::string, std::shared_ptr<Windows>>;
  struct Entry {
    explicit Entry(const control::RolloutSpec& spec);
    control::Rollout machine;
    std::shared_ptr<Windows> windows;
    // The (config version, percent) whose weights were last applied; re-applied on change.
    std::optional<std::pair<int64_t, double>> applied;
  };

  void sync(int64_t now_ms);  // under work_mu_
  // Whether this replica leads now (sets leading_); on becoming leader, the entries are
  // rebuilt from the saved state at the next sync(). Under work_mu_.
  bool leading_now();
  Error not_leader() const;  // the refusal of a follower's command
  // A follower's tick: each rollout's state as the leader saved it. Under work_mu_.
  void follow_saved();
  // The saved state of every rollout whose block the new version `next` no longer has (or has
  // changed) is marked ended (an "ended" event for those this process ran), so that a block
  // that comes back later starts over instead of restoring a finished rollout. Under work_mu_.
  void forget_ended(const std::map<std::string, Entry>& next, int64_t seq);
  void record(const std::string& route, Entry& e, const control::RolloutEvent& ev);
  void apply_weights(const std::string& route, Entry& e, const std::string& why);
  void update_metrics(const std::string& route, const Entry& e);
  // A running rollout's split weights that someone else moved since it set them ("KNOB moved
  // to X by WHO while the rollout held it at Y"): the rollout pauses rather than overwrite a
  // person's (or a controller's) move. Under work_mu_.
  std::optional<std::string> moved_by_hand(const std::string& route, const Entry& e) const;
  // The gates' input: the windows' numbers since the step began, the fleet's in fleet mode.
  control::RolloutInput input(const std::string& route, const Entry& e, int64_t now_ms,
                              int64_t* replicas = nullptr) const;
  FleetStats side_stats(const std::string& route, const char* side,
                        const control::OutcomeWindow& w, int64_t since_ms, int64_t now_ms) const;
  // Registers the windows of every entry with the fleet (fleet mode only). Under work_mu_.
  void share_windows();
  Result<std::vector<telemetry::StoredRolloutEvent>> events(const std::string& route);
  std::vector<telemetry::StoredRollout> saved_states();  // store or memory; empty on an error
  std::optional<telemetry::StoredRollout> saved_state(const std::string& route);
  int64_t tick_interval_ms();

  ConfigVersions& versions_;
  KnobMoves& moves_;
  const std::function<int64_t()> clock_;
  FleetWindows* fleet_ = nullptr;  // set before start_timer(); null: this replica's numbers

  std::mutex work_mu_;  // serialises tick/command/list; guards the members up to windows_mu_
  std::map<std::string, Entry> entries_;
  int64_t synced_version_ = 0;
  const Leadership* leadership_ = nullptr;  // null: always leads
  bool leading_ = true;  // as of the last leading_now()
  std::unique_ptr<telemetry::StoreReader> store_;  // null: state in memory only
  std::map<std::string, telemetry::StoredRollout> memory_state_;
  std::vector<telemetry::StoredRolloutEvent> memory_events_;
  prometheus::Family<prometheus::Gauge>* step_family_;
  prometheus::Family<prometheus::Gauge>* state_family_;

  mutable std::mutex windows_mu_;  // guards the pointer only
  std::shared_ptr<const WindowMap> windows_ = std::make_shared<const WindowMap>();

  // Last: its thread uses the members above, so it stops before they go.
  PeriodicWorker timer_{"rollouts", [this] { tick(clock_()); },
                        [this] { return tick_interval_ms(); }};
};

// The weights that give `candidate` (index `candidate_index`) `percent` of the traffic and the
// other children the rest, shared as their config weights are. Pure.
std::vector<double> rollout_weights(const std::vector<double>& config_weights,
                                    size_t candidate_index, double percent);

}  // namespace triage::server

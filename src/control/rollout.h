#pragma once
// A progressive rollout's decisions (docs/rollout.md), as a pure state machine: the caller
// passes the time and the candidate's and the other children's window stats in; the machine
// says which share the candidate should have and records why it changed. Moving the weights,
// measuring traffic and keeping the state are the server's (server/rollouts.h).
//
//   pending --start--> running(step 0) --held for hold with >= min_requests--> running(step+1)
//   running(last step, 100%) --held--> promoted
//   running --a gate failed (with >= min_requests)--> rolled_back (0% at once)
//   running --pause--> paused --resume--> running (the step's hold starts again)
//   pending | running | paused --abort--> aborted (0%)
//   any --start--> running(step 0)   (a restart of the rollout in config)
//
// Gates compare the candidate with a reference: the other children's stats when they had
// >= min_requests in the window, else the last such stats seen (the baseline; at 100% the
// others get no traffic). A gate without a reference, or without enough comparisons
// (agreement), is skipped: it neither blocks an advance nor rolls back.
//
// Threading: none; the owner serialises calls. Times are unix milliseconds.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "control/outcome_window.h"

namespace triage::control {

struct RolloutGates {
  std::optional<double> max_success_drop;  // candidate >= reference - this (0..1)
  std::optional<double> max_p95_ratio;     // candidate p95 <= this x reference p95
  std::optional<double> max_cost_ratio;    // candidate cost/request <= this x reference
  std::optional<double> min_agreement;     // candidate agreement with the primary >= this
};

struct RolloutSpec {
  std::string candidate;      // the split child's route name
  std::vector<double> steps;  // candidate percent per step, increasing, ending at 100
  int64_t hold_ms = 0;        // per step
  int64_t min_requests = 1;   // candidate requests in the window before a gate counts
  RolloutGates gates;
  int64_t evaluate_every_ms = 1000;
  bool manual_start = false;  // start: manual -- stays pending until POST /admin/rollouts/start

  // Every field above as one canonical string: equal specs, equal fingerprints (a reload that
  // keeps the rollout section keeps its state).
  std::string fingerprint() const;
};

enum class RolloutState { kPending, kRunning, kPaused, kPromoted, kRolledBack, kAborted };
std::string_view rollout_state_name(RolloutState s);  // "pending", "running", ..., "rolled_back"
std::optional<RolloutState> rollout_state_from_name(std::string_view name);
inline constexpr RolloutState kAllRolloutStates[] = {
    RolloutState::kPending,  RolloutState::kRunning,    RolloutState::kPaused,
    RolloutState::kPromoted, RolloutState::kRolledBack, RolloutState::kAborted};

// The reference numbers a gate compares against (the others', or the remembered baseline).
struct RolloutBaseline {
  int64_t requests = 0;  // 0: none yet
  double success_rate = 0;
  double p95_ms = 0;
  double cost_per_request = 0;
};

// What the machine persists, and restores from.
struct RolloutStatus {
  RolloutState state = RolloutState::kPending;
  int step = -1;  // index into steps; -1 before the first
  int64_t step_started_ms = 0;
  RolloutBaseline baseline;
};

struct RolloutInput {
  WindowStats candidate;            // the candidate's own traffic since the step started
  WindowStats others;               // every other child's
  WindowStats candidate_agreement;  // compared / agreed of the candidate's shadow comparisons
};

// One gate's verdict at one evaluation.
struct GateCheck {
  std::string gate;    // "success", "p95", "cost", "agreement"
  std::string status;  // "pass", "fail", "waiting" (not enough requests), "skipped"
  double candidate = 0;
  double reference = 0;  // the others' (baseline) number; the limit itself for agreement
  double limit = 0;      // max_success_drop, max_p95_ratio, max_cost_ratio or min_agreement
  std::string detail;    // "p95 412 ms > 1.5 x 180 ms"
};

struct RolloutEvent {
  int64_t ts_ms = 0;
  std::string kind;  // started, advanced, promoted, rolled_back, paused, resumed, aborted, restored
  RolloutState state = RolloutState::kPending;  // after the event
  int step = -1;
  double percent = 0;  // the candidate's share after the event
  std::string reason;
};

class Rollout {
 public:
  explicit Rollout(RolloutSpec spec) : spec_(std::move(spec)) {}

  const RolloutSpec& spec() const { return spec_; }
  const RolloutStatus& status() const { return status_; }
  RolloutState state() const { return status_.state; }
  // The candidate's share the weights should give now: nullopt while pending (the config's
  // weights serve), steps[step] running or paused, 100 promoted, 0 rolled back or aborted.
  std::optional<double> percent() const;

  // Commands. An event, or an error message when the command does not apply in this state.
  RolloutEvent start(int64_t now_ms, const std::string& why);
  std::variant<RolloutEvent, std::string> pause(int64_t now_ms);
  std::variant<RolloutEvent, std::string> resume(int64_t now_ms);
  std::variant<RolloutEvent, std::string> abort(int64_t now_ms, const std::string& why);
  // Takes a persisted status back (a restart): a running step's hold starts again at now.
  RolloutEvent restore(const RolloutStatus& saved, int64_t now_ms);

  // One evaluation while running: the event when the state or step changed, else nullopt.
  std::optional<RolloutEvent> evaluate(int64_t now_ms, const RolloutInput& in);
  // The gates' verdicts for `in` (what evaluate() would decide on), for the admin API.
  std::vector<GateCheck> check_gates(const RolloutInput& in) const;

 private:
  RolloutEvent event(int64_t now_ms, std::string kind, std::string reason) const;
  RolloutBaseline reference(const WindowStats& others) const;

  RolloutSpec spec_;
  RolloutStatus status_;
};

}  // namespace triage::control

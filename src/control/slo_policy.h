#pragma once
// The SLO controller's decision for one SLO with an action (docs/slo.md "The controller"): a
// pure function of the window's numbers, the knob, the policy and the SLO's remembered state,
// with time passed in, so every rule is testable without a clock:
//
//   - breach: success < target with >= min_requests in the window -> one step toward `toward`;
//   - recovery: success >= target + margin (with >= min_requests) for hold_ms without a break
//     -> one step back toward the file's value;
//   - never two moves closer than hold_ms; never past `toward`, the file's value or the knob's
//     range; a stepped knob (knob_step > 0) only lands on its steps.
//
// Threading: pure; the caller owns the state.
#include <cstdint>
#include <optional>
#include <string>

#include "control/outcome_window.h"

namespace triage::control {

struct SloPolicy {
  double target = 0.9;
  double margin = 0.02;
  int64_t min_requests = 20;
  int64_t hold_ms = 60000;
  double toward = 0;  // the knob value that sends traffic to the more expensive tier
  double step = 0;    // > 0
};

// The knob as the controller sees it.
struct KnobView {
  double value = 0;       // now (the controller's own virtual position in observe mode)
  double file_value = 0;  // the config file's value on the version serving now
  double lo = 0, hi = 0;  // range
  double knob_step = 0;   // routes::Knob::step(); 0: continuous
};

// What the controller remembers per SLO between evaluations (last_move_ms is persisted).
struct SloPolicyState {
  std::optional<int64_t> last_move_ms;    // unix ms of the last move (either direction)
  std::optional<int64_t> above_since_ms;  // start of the current run above target + margin
};

enum class SloVerdict {
  kNoData,     // fewer than min_requests in the window
  kBreached,   // below target
  kMet,        // at or above target, below target + margin
  kRecovered,  // at or above target + margin
};
std::string_view slo_verdict_name(SloVerdict v);  // "no_data" | "breached" | "met" | "recovered"

struct SloDecision {
  SloVerdict verdict = SloVerdict::kNoData;
  enum class Move { kNone, kToward, kBack } move = Move::kNone;
  double value = 0;  // the knob's new value when move != kNone
  // Why no move was made although the verdict asked for one: "hold" (too soon after the
  // last move, or not yet recovered for hold_ms), "at_limit" (already at `toward`), "at_file"
  // (already at the file's value). Empty otherwise.
  std::string held_by;
};

// Decides, and updates `state` (above_since_ms always; last_move_ms when it moves).
SloDecision decide_slo(const SloPolicy& policy, const WindowStats& window, const KnobView& knob,
                       SloPolicyState& state, int64_t now_ms);

// `from` moved by at most `step` toward `to`, never past it, within [lo, hi], and on the knob's
// steps (lo + k * knob_step) when knob_step > 0. Pure.
double step_toward(double from, double to, double step, double lo, double hi, double knob_step);

}  // namespace triage::control

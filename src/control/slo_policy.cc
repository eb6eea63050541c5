#include "control/slo_policy.h"

#include <algorithm>
#include <cmath>

namespace triage::control {

namespace {

constexpr double kEps = 1e-9;

bool same(double a, double b) { return std::fabs(a - b) <= kEps * std::max(1.0, std::fabs(b)); }

}  // namespace

std::string_view slo_verdict_name(SloVerdict v) {
  switch (v) {
    case SloVerdict::kNoData: return "no_data";
    case SloVerdict::kBreached: return "breached";
    case SloVerdict::kMet: return "met";
    case SloVerdict::kRecovered: return "recovered";
  }
  return "no_data";
}

double step_toward(double from, double to, double step, double lo, double hi, double knob_step) {
  double v = to > from ? std::min(from + step, to) : std::max(from - step, to);
  if (knob_step > 0) {
    // The knob's step grid; a policy step smaller than it still moves one knob step.
    double k = (v - lo) / knob_step;
    k = to > from ? std::floor(k + kEps) : std::ceil(k - kEps);
    double snapped = lo + k * knob_step;
    if (same(snapped, from)) snapped = from + (to > from ? knob_step : -knob_step);
    v = to > from ? std::min(snapped, to) : std::max(snapped, to);
  }
  return std::clamp(v, lo, hi);
}

SloDecision decide_slo(const SloPolicy& p, const WindowStats& w, const KnobView& knob,
                       SloPolicyState& state, int64_t now_ms) {
  SloDecision d;
  if (w.requests < p.min_requests) {
    d.verdict = SloVerdict::kNoData;
  } else if (w.success_rate() < p.target) {
    d.verdict = SloVerdict::kBreached;
  } else if (w.success_rate() >= p.target + p.margin - kEps) {
    d.verdict = SloVerdict::kRecovered;
  } else {
    d.verdict = SloVerdict::kMet;
  }
  if (d.verdict != SloVerdict::kRecovered) {
    state.above_since_ms.reset();
  } else if (!state.above_since_ms) {
    state.above_since_ms = now_ms;
  }
  const bool held = state.last_move_ms && now_ms - *state.last_move_ms < p.hold_ms;
  double target_value = 0;
  if (d.verdict == SloVerdict::kBreached) {
    target_value = std::clamp(p.toward, knob.lo, knob.hi);
    if (same(knob.value, target_value)) {
      d.held_by = "at_limit";
      return d;
    }
    d.move = SloDecision::Move::kToward;
  } else if (d.verdict == SloVerdict::kRecovered) {
    target_value = std::clamp(knob.file_value, knob.lo, knob.hi);
    if (same(knob.value, target_value)) {
      d.held_by = "at_file";
      return d;
    }
    if (now_ms - *state.above_since_ms < p.hold_ms) {
      d.held_by = "hold";
      return d;
    }
    d.move = SloDecision::Move::kBack;
  } else {
    return d;
  }
  if (held) {
    d.move = SloDecision::Move::kNone;
    d.held_by = "hold";
    return d;
  }
  d.value = step_toward(knob.value, target_value, p.step, knob.lo, knob.hi, knob.knob_step);
  if (same(d.value, knob.value)) {  // nothing to move within the range
    d.move = SloDecision::Move::kNone;
    d.held_by = d.verdict == SloVerdict::kBreached ? "at_limit" : "at_file";
    return d;
  }
  state.last_move_ms = now_ms;
  return d;
}

}  // namespace triage::control

#pragma once
// Runtime-tunable parameters of routes and checks ("knobs"): a threshold route's threshold, a
// cascade scorer's acceptance threshold. `triage eval --sweep` moves a route's knob across its
// range to trace the cost-quality curve; an operator could move it on a live gateway.
//
// A route exposes its knobs by also deriving from Tunable (queried with dynamic_cast, so the
// Route interface stays as it is); a check that has a knob derives from Tunable too, and a
// cascade exposes the knobs of its steps' checks.
//
// Threading: get() and set() may be called from any thread at any time (implementations keep
// the value in a std::atomic); a request reads a knob once, so a concurrent set() affects
// whole requests only. Knobs are owned by their route or check and live as long as it does.
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "core/chat.h"
#include "routes/route.h"

namespace triage::routes {

class Knob {
 public:
  virtual ~Knob() = default;
  // Stable identifier for reports, e.g. "threshold" or "steps[0].checks[3].threshold".
  virtual std::string_view name() const = 0;
  virtual double get() const = 0;
  // Values outside range() are accepted (clamped or not is up to the owner's docs).
  virtual void set(double value) = 0;
  // [lo, hi] covering every behaviour: at one end the owner never takes the guarded path
  // (e.g. always accepts), at the other it always does (always escalates).
  virtual std::pair<double, double> range() const = 0;
  // Optional: > 0 when only multiples of step() from range().first behave differently (a count,
  // e.g. an agreement check's min_agree); a sweep then visits exactly those values. 0: continuous.
  virtual double step() const { return 0.0; }

  // Optional: when the owner's decision for a request is "score(request) compared with the
  // knob" and the score is a pure function of the request alone (no model call), that score.
  // A sweep then places the knob exactly at share quantiles of the scores. nullopt: the score
  // needs more than the request (e.g. a cascade's scorer judges the cheap model's answer), so
  // a sweep searches the range instead.
  virtual std::optional<double> request_score(const core::ChatRequest& /*req*/) const {
    return std::nullopt;
  }
  // Optional: the learned model file behind the knob (its metadata + ".json" may record the
  // train/test split of the data it was trained on); empty when none.
  virtual std::string_view model_path() const { return {}; }
};

// Mixin for routes and checks with knobs. The pointers stay valid as long as the owner.
class Tunable {
 public:
  virtual ~Tunable() = default;
  virtual std::vector<Knob*> knobs() = 0;
};

// Appends the knobs of the Tunable checks among `checks`, in check order (the checks must be
// a route's, so the knobs live as long as the route).
template <typename CheckPtrs>
void append_check_knobs(const CheckPtrs& checks, std::vector<Knob*>& out) {
  for (const auto& check : checks) {
    if (auto* t = dynamic_cast<Tunable*>(check.get())) {
      for (Knob* k : t->knobs()) out.push_back(k);
    }
  }
}

// The knobs of `route` (empty when it is not Tunable), in the order the route reports them.
inline std::vector<Knob*> knobs_of(Route& route) {
  auto* t = dynamic_cast<Tunable*>(&route);
  return t ? t->knobs() : std::vector<Knob*>{};
}

}  // namespace triage::routes

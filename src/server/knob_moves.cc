#include "server/knob_moves.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "common/clock.h"
#include "routes/knob.h"

namespace triage::server {

namespace {

// Whether `v` is one of the values a stepped knob distinguishes (lo + k * step).
bool on_step(double v, double lo, double step) {
  if (step <= 0) return true;
  const double k = (v - lo) / step;
  return std::fabs(k - std::round(k)) < 1e-9;
}

}  // namespace

routes::Knob* find_knob(const Serving& serving, const std::string& route_name,
                        const std::string& knob_name) {
  routes::Route* route = serving.routes().find(route_name);
  if (!route) return nullptr;
  for (routes::Knob* k : routes::knobs_of(*route)) {
    if (k->name() == knob_name) return k;
  }
  return nullptr;
}

Result<routes::Knob*> KnobMoves::checked_knob(const KnobMove& m, const Serving& serving) const {
  routes::Knob* knob = find_knob(serving, m.route, m.knob);
  if (!knob) {
    return make_error(ErrorCode::kNotFound,
                      "no knob '" + m.knob + "' on route '" + m.route +
                          "'; GET /admin/knobs lists them",
                      {}, "knob");
  }
  const auto [lo, hi] = knob->range();
  if (!(m.value >= lo && m.value <= hi) || !on_step(m.value, lo, knob->step())) {
    return make_error(ErrorCode::kInvalidRequest,
                      fmt::format("'value' {} is outside the knob's range [{}, {}]{}", m.value, lo,
                                  hi, knob->step() > 0 ? " or not on its step" : ""),
                      {}, "value");
  }
  return knob;
}

Result<telemetry::StoredKnobEvent> KnobMoves::move(const KnobMove& m) {
  std::lock_guard lk(mu_);
  const std::shared_ptr<const Serving> serving = versions_.current();
  Result<routes::Knob*> checked = checked_knob(m, *serving);
  if (!checked) return checked.error();
  routes::Knob* knob = checked.value();
  telemetry::StoredKnobEvent event{unix_time_ms(), m.route, m.knob, knob->get(), m.value,
                                   m.who,          m.reason, serving->version.seq};
  if (auto r = versions_.record_knob_event(event); !r) return r.error();
  knob->set(m.value);
  metrics_.count_knob_move(m.route, m.knob);
  last_move_[{event.config_version, m.route, m.knob}] = event;
  spdlog::info("knob {}/{} moved {} -> {} by {} (config version {}){}{}", m.route, m.knob,
               event.before, event.after, event.who, event.config_version,
               m.reason.empty() ? "" : ": ", m.reason);
  return event;
}

Result<telemetry::StoredKnobEvent> KnobMoves::record_only(const KnobMove& m, double before) {
  std::lock_guard lk(mu_);
  const std::shared_ptr<const Serving> serving = versions_.current();
  Result<routes::Knob*> checked = checked_knob(m, *serving);
  if (!checked) return checked.error();
  telemetry::StoredKnobEvent event{unix_time_ms(), m.route, m.knob, before, m.value,
                                   m.who,          m.reason, serving->version.seq};
  if (auto r = versions_.record_knob_event(event); !r) return r.error();
  spdlog::info("knob {}/{} would move {} -> {} by {} (observe; config version {}){}{}", m.route,
               m.knob, event.before, event.after, event.who, event.config_version,
               m.reason.empty() ? "" : ": ", m.reason);
  return event;
}

std::optional<telemetry::StoredKnobEvent> KnobMoves::last_move(int64_t config_version,
                                                               const std::string& route,
                                                               const std::string& knob) const {
  std::lock_guard lk(mu_);
  auto it = last_move_.find({config_version, route, knob});
  if (it == last_move_.end()) return std::nullopt;
  return it->second;
}

}  // namespace triage::server

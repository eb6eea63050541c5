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
  telemetry::StoredKnobEvent event{unix_time_ms(), m.route,  m.knob,
                                   knob->get(),    m.value,  m.who,
                                   m.reason,       serving->version.seq, replica_, 0, false};
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
  telemetry::StoredKnobEvent event{unix_time_ms(), m.route,  m.knob,
                                   before,         m.value,  m.who,
                                   m.reason,       serving->version.seq, replica_, 0,
                                   /*observe=*/true};
  if (auto r = versions_.record_knob_event(event); !r) return r.error();
  spdlog::info("knob {}/{} would move {} -> {} by {} (observe; config version {}){}{}", m.route,
               m.knob, event.before, event.after, event.who, event.config_version,
               m.reason.empty() ? "" : ": ", m.reason);
  return event;
}

Result<int> KnobMoves::follow_store() {
  std::lock_guard lk(mu_);  // a local move and a followed one never interleave
  const std::shared_ptr<const Serving> serving = versions_.current();
  const int64_t seq = serving->version.seq;
  if (seq != followed_version_) {
    followed_version_ = seq;
    followed_id_ = 0;
  }
  auto events = versions_.knob_events_after(followed_id_, seq);
  if (!events) return events.error();
  // The last event per knob, own ones included: a move made here after another replica's
  // (a larger id) wins over it.
  std::map<std::pair<std::string, std::string>, const telemetry::StoredKnobEvent*> last;
  for (const telemetry::StoredKnobEvent& e : events.value()) {
    followed_id_ = std::max(followed_id_, e.id);
    if (!e.observe) last[{e.route, e.knob}] = &e;  // observe mode moved nothing
  }
  int applied = 0;
  for (const auto& [key, e] : last) {
    if (e->replica == replica_) continue;
    routes::Knob* knob = find_knob(*serving, e->route, e->knob);
    if (!knob) continue;  // cannot happen on the same version; nothing to follow
    last_move_[{seq, e->route, e->knob}] = *e;
    if (knob->get() == e->after) continue;
    knob->set(e->after);  // checked against the same version's range by its mover
    ++applied;
    spdlog::info("knob {}/{} follows {} -> {} by {} on replica {} (config version {})", e->route,
                 e->knob, e->before, e->after, e->who, e->replica, seq);
  }
  return applied;
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

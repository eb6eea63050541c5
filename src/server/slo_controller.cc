#include "server/slo_controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/clock.h"
#include "core/review_flag.h"
#include "routes/knob.h"
#include "telemetry/review_db.h"

namespace triage::server {

namespace json = boost::json;

namespace {

constexpr int kWindowSlices = 60;
// Requests remembered for late news at most (the oldest go first); bounds memory under load.
constexpr size_t kMaxRecent = 500000;
constexpr double kSameEps = 1e-9;

bool same_value(double a, double b) { return std::fabs(a - b) <= kSameEps * std::max(1.0, std::fabs(b)); }

bool counts_trace(const config::Slo& slo, const std::string& model, const std::string& tier,
                  const std::string& route) {
  switch (slo.scope) {
    case config::SloScope::kModel: return model == slo.scope_name;
    case config::SloScope::kTier: return tier == slo.scope_name;
    case config::SloScope::kRoute: return route == slo.scope_name;
    case config::SloScope::kRouter: return false;  // labelled decisions only
  }
  return false;
}

struct Numbers {
  double success = std::numeric_limits<double>::quiet_NaN();
  double burn = std::numeric_limits<double>::quiet_NaN();
  double remaining = std::numeric_limits<double>::quiet_NaN();
};

// Burn rate: the window's error rate over the rate the target allows. NaN without requests.
Numbers numbers(const control::WindowStats& w, double target) {
  Numbers n;
  if (w.requests == 0) return n;
  n.success = w.success_rate();
  n.burn = (1.0 - n.success) / std::max(1.0 - target, 1e-6);
  n.remaining = 1.0 - n.burn;
  return n;
}

json::value number_or_null(double v) { return std::isfinite(v) ? json::value(v) : json::value(nullptr); }

std::string who_of(const config::Slo& slo) {
  return "controller:" + slo.name + (slo.observe ? " (observe)" : "");
}

}  // namespace

std::optional<bool> slo_success(const core::Trace& t) {
  if (core::has_flag(t.flags, core::ReviewFlag::kShadow)) return std::nullopt;
  if (t.cache == core::CacheOutcome::kHit) return std::nullopt;
  if (t.http_status >= 400 && t.http_status < 500) return std::nullopt;  // the client's error
  return t.http_status < 400 && t.error_code.empty() &&
         !core::has_flag(t.flags, core::ReviewFlag::kFinalChecksFailed) &&
         !core::has_flag(t.flags, core::ReviewFlag::kVerificationFailed);
}

std::string slo_window_key(const config::Slo& slo) {
  return fmt::format("slo:{}:{}:{}:{}", slo.name, config::slo_scope_name(slo.scope),
                     slo.scope_name, slo.window_s);
}

SloController::SloController(ConfigVersions& versions, KnobMoves& moves,
                             telemetry::Metrics& metrics, Clock clock)
    : versions_(versions),
      moves_(moves),
      metrics_(metrics),
      clock_(clock ? std::move(clock) : Clock([] { return unix_time_ms(); })),
      set_(std::make_shared<SloSet>()) {
  load_saved();
}

void SloController::load_saved() {
  auto saved = versions_.slo_states();
  if (!saved) {
    spdlog::warn("SLO controller: saved state not read ({}); starting from the file's values",
                 saved.error().message);
    return;
  }
  std::lock_guard lk(control_mu_);
  controls_.clear();
  for (const telemetry::StoredSloState& s : saved.value()) {
    Control c;
    c.route = s.route;
    c.knob = s.knob;
    c.file_value = s.file_value;
    c.position = s.value;
    c.observe = s.observe;
    if (s.last_move_ms > 0) c.policy.last_move_ms = s.last_move_ms;
    c.restored = true;
    controls_[s.slo] = std::move(c);
  }
}

bool SloController::leading_now() {
  const bool leading = !leadership_ || leadership_->is_leader();
  if (leading && !was_leading_) {
    spdlog::info("SLO controller: leading; resuming from the saved state");
    load_saved();
    readopt_ = true;
  }
  was_leading_ = leading;
  return leading;
}

SloController::~SloController() { stop(); }

void SloController::start() {
  evaluate(clock_());  // adopts the serving version now: saved positions are back at once
  worker_.start(/*run_first=*/false);
}

void SloController::stop() { worker_.stop(); }

void SloController::set_fleet(FleetWindows* fleet) {
  fleet_ = fleet;
  share_windows(*current_set());
}

void SloController::share_windows(const SloSet& set) {
  if (!fleet_) return;
  for (const Tracked& t : set.slos) fleet_->add(slo_window_key(t.slo), t.window);
}

FleetStats SloController::window_stats(const Tracked& t, int64_t now_ms) const {
  if (!fleet_) return FleetStats{t.window->stats(now_ms), 1};
  return fleet_->stats(slo_window_key(t.slo), *t.window, now_ms);
}

std::shared_ptr<const SloController::SloSet> SloController::current_set() const {
  std::lock_guard lk(set_mu_);
  return set_;
}

void SloController::consume(const core::TracePtr& trace) {
  if (!has_slos_.load(std::memory_order_relaxed)) return;  // the common case: one load
  if (core::has_flag(trace->flags, core::ReviewFlag::kShadow)) {
    judge_by_shadow(*trace);
    return;
  }
  const std::optional<bool> ok = slo_success(*trace);
  if (!ok) return;
  const std::shared_ptr<const SloSet> set = current_set();
  const int64_t now = clock_();
  bool counted = false;
  for (const Tracked& t : set->slos) {
    if (t.slo.scope == config::SloScope::kRouter && t.slo.scope_name == trace->route) {
      counted = true;  // remembered for the verdicts to come
      continue;
    }
    if (!counts_trace(t.slo, trace->model, trace->tier, trace->route)) continue;
    t.window->record(now, control::Outcome{*ok, static_cast<double>(trace->total_us) / 1000.0,
                                           trace->cost_usd, std::nullopt});
    counted = true;
  }
  if (!counted) return;
  std::lock_guard lk(recent_mu_);
  recent_[trace->request_id] = Recent{now, trace->model, trace->tier, trace->route, *ok, false, std::nullopt};
  recent_order_.emplace_back(now, trace->request_id);
  while (recent_order_.size() > kMaxRecent) {
    recent_.erase(recent_order_.front().second);
    recent_order_.pop_front();
  }
}

void SloController::judge_by_shadow(const core::Trace& shadow) {
  std::optional<bool> agrees;
  for (const core::Span& s : shadow.spans) {
    if (s.agrees) agrees = s.agrees;
  }
  const std::optional<std::string> parent_id = core::shadow_parent_id(shadow.request_id);
  if (!agrees || !parent_id) return;  // the candidate failed: no comparison
  const std::shared_ptr<const SloSet> set = current_set();
  const int shadow_rank = tier_rank(*set, shadow.tier);
  Recent parent;
  bool correct = false;
  {
    std::lock_guard lk(recent_mu_);
    auto it = recent_.find(*parent_id);
    if (it == recent_.end() || it->second.router_verdict) return;
    const int served_rank = tier_rank(*set, it->second.tier);
    if (served_rank < 0 || shadow_rank < 0 || served_rank == shadow_rank) return;  // no evidence
    // Served cheaper and agrees: the cheap tier was enough. Served dearer and agrees: the
    // cheaper tier would have done, so the dear one was a wrong decision (and the converse).
    correct = served_rank < shadow_rank ? *agrees : !*agrees;
    it->second.router_verdict = correct;
    parent = it->second;
  }
  record_router_verdict(*set, parent, correct, clock_());
}

int SloController::tier_rank(const SloSet& set, const std::string& tier) {
  auto it = std::find(set.tiers.begin(), set.tiers.end(), tier);
  return it == set.tiers.end() ? -1 : static_cast<int>(it - set.tiers.begin());
}

void SloController::record_router_verdict(const SloSet& set, const Recent& r, bool correct,
                                          int64_t now_ms) {
  for (const Tracked& t : set.slos) {
    if (t.slo.scope != config::SloScope::kRouter || t.slo.scope_name != r.route) continue;
    t.window->record_at(r.counted_ms, now_ms, control::Outcome{correct, 0, 0, std::nullopt});
  }
}

void SloController::late_feedback(const std::string& request_id, double score) {
  if (score >= telemetry::kNegativeFeedbackBelow) return;
  late_label(request_id, false, "");
}

void SloController::late_label(const std::string& request_id, bool correct,
                               const std::string& sufficient_tier) {
  const std::shared_ptr<const SloSet> set = current_set();
  std::optional<Recent> r;
  bool fail_now = false;
  std::optional<bool> verdict;      // a router decision judged for the first time
  bool overturn = false;            // a reviewer's "wrong" over a shadow's "right"
  {
    std::lock_guard lk(recent_mu_);
    auto it = recent_.find(request_id);
    if (it == recent_.end()) return;  // not counted, or out of every window by now
    Recent& rec = it->second;
    fail_now = !correct && rec.ok && !rec.late_failed;
    if (fail_now) rec.late_failed = true;
    const bool agrees = sufficient_tier.empty() ? correct : sufficient_tier == rec.tier;
    if (!rec.router_verdict) {
      verdict = agrees;
      rec.router_verdict = agrees;
    } else if (*rec.router_verdict && !agrees) {
      overturn = true;
      rec.router_verdict = false;
    }
    r = rec;
  }
  const int64_t now = clock_();
  if (verdict) record_router_verdict(*set, *r, *verdict, now);
  for (const Tracked& t : set->slos) {
    const bool router_overturn = overturn && t.slo.scope == config::SloScope::kRouter &&
                                 t.slo.scope_name == r->route;
    const bool failed_here = fail_now && t.slo.scope != config::SloScope::kRouter &&
                             counts_trace(t.slo, r->model, r->tier, r->route);
    if (router_overturn || failed_here) t.window->mark_failed(r->counted_ms, now);
  }
}

void SloController::prune_recent(int64_t now_ms, int64_t keep_ms) {
  std::lock_guard lk(recent_mu_);
  while (!recent_order_.empty() && recent_order_.front().first < now_ms - keep_ms) {
    recent_.erase(recent_order_.front().second);
    recent_order_.pop_front();
  }
}

void SloController::evaluate(int64_t now_ms) {
  const bool leading = leading_now();
  const std::shared_ptr<const Serving> serving = versions_.current();
  if (current_set()->seq != serving->version.seq || readopt_) {
    readopt_ = false;
    adopt(*serving, now_ms, leading);
  }
  const std::shared_ptr<const SloSet> set = current_set();
  prune_recent(now_ms, set->longest_window_ms);
  for (const Tracked& t : set->slos) {
    const control::WindowStats w = window_stats(t, now_ms).stats;
    const Numbers n = numbers(w, t.slo.target);
    metrics_.set_slo(t.slo.name, n.success, n.burn, n.remaining);
    if (!t.slo.action || !leading) continue;
    std::lock_guard lk(control_mu_);
    auto it = controls_.find(t.slo.name);
    if (it == controls_.end()) continue;  // its knob was not found on this version
    act(t, it->second, w, *serving, now_ms);
  }
}

void SloController::act(const Tracked& t, Control& c, const control::WindowStats& w,
                        const Serving& serving, int64_t now_ms) {
  const config::SloAction& a = *t.slo.action;
  routes::Knob* knob = find_knob(serving, a.route, a.knob);
  if (!knob) return;
  const auto [lo, hi] = knob->range();
  control::KnobView view{t.slo.observe ? c.position.value_or(c.file_value) : knob->get(),
                         c.file_value, lo, hi, knob->step()};
  const control::SloPolicy policy{t.slo.target, a.margin, t.slo.min_requests, a.hold_s * 1000,
                                  a.toward, a.step};
  c.last = control::decide_slo(policy, w, view, c.policy, now_ms);
  if (c.last.move == control::SloDecision::Move::kNone) return;
  const bool toward = c.last.move == control::SloDecision::Move::kToward;
  const std::string reason =
      toward ? fmt::format("slo {} {:.2f} < {:.2f} over {} s (n={})", t.slo.name,
                           w.success_rate(), t.slo.target, t.slo.window_s, w.requests)
             : fmt::format("slo {} {:.2f} >= {:.2f} for {} s over {} s (n={}): back toward the "
                           "file's {}",
                           t.slo.name, w.success_rate(), t.slo.target + a.margin, a.hold_s,
                           t.slo.window_s, w.requests, c.file_value);
  const KnobMove move{a.route, a.knob, c.last.value, who_of(t.slo), reason};
  auto done = t.slo.observe ? moves_.record_only(move, view.value) : moves_.move(move);
  if (!done) {
    spdlog::warn("SLO controller: {} could not move {}/{}: {}", t.slo.name, a.route, a.knob,
                 done.error().message);
    return;
  }
  c.position = c.last.value;
  save(t.slo.name, c);
}

void SloController::save(const std::string& slo, const Control& c) {
  const telemetry::StoredSloState s{slo,
                                    c.route,
                                    c.knob,
                                    c.file_value,
                                    c.position.value_or(c.file_value),
                                    c.policy.last_move_ms.value_or(0),
                                    c.observe};
  if (auto r = versions_.save_slo_state(s); !r) {
    spdlog::warn("SLO controller: state of {} not saved: {}", slo, r.error().message);
  }
}

void SloController::adopt(const Serving& serving, int64_t now_ms, bool leading) {
  auto next = std::make_shared<SloSet>();
  next->seq = serving.version.seq;
  next->tiers = serving.cfg().tiers;
  const std::shared_ptr<const SloSet> old = current_set();
  for (const config::Slo& slo : serving.cfg().slos) {
    std::shared_ptr<control::OutcomeWindow> window;
    for (const Tracked& t : old->slos) {
      if (t.slo.name == slo.name && t.slo.same_measure(slo)) window = t.window;
    }
    if (!window) window = std::make_shared<control::OutcomeWindow>(slo.window_s * 1000, kWindowSlices);
    next->longest_window_ms = std::max(next->longest_window_ms, slo.window_s * 1000);
    next->slos.push_back(Tracked{slo, std::move(window)});
  }
  std::lock_guard lk(control_mu_);
  std::map<std::string, Control> controls;
  for (const config::Slo& slo : serving.cfg().slos) {
    if (!slo.action || !leading) continue;  // a follower's controls wait for its turn
    auto prev = controls_.find(slo.name);
    Control c = prev == controls_.end() ? Control{} : prev->second;
    const bool had_position = c.position.has_value();
    restore(slo, c, serving);
    if (c.route.empty()) continue;
    if (had_position && !c.position) save(slo.name, c);  // started again from the file's value
    controls[slo.name] = std::move(c);
  }
  if (leading) controls_ = std::move(controls);
  share_windows(*next);
  {
    std::lock_guard set_lk(set_mu_);
    set_ = std::move(next);
    has_slos_.store(!set_->slos.empty(), std::memory_order_relaxed);
  }
  spdlog::info("SLO controller: {} SLO(s) of config version {} at {}", serving.cfg().slos.size(),
               serving.version.seq, now_ms);
}

void SloController::restore(const config::Slo& slo, Control& c, const Serving& serving) {
  const config::SloAction& a = *slo.action;
  routes::Knob* knob = find_knob(serving, a.route, a.knob);
  if (!knob) {
    c.route.clear();
    return;
  }
  // The file's value of this version: the knob as built, unless someone moved it already.
  const auto moved = moves_.last_move(serving.version.seq, a.route, a.knob);
  const double file_value = moved ? moved->before : knob->get();
  const bool same_knob = c.route == a.route && c.knob == a.knob && c.observe == slo.observe;
  const bool resume = same_knob && c.position && same_value(c.file_value, file_value);
  if (!resume) {
    if (c.position && !same_value(*c.position, c.file_value)) {
      spdlog::info("SLO controller: {}: the file's value of {}/{} is now {} (was {}) or the "
                   "action changed; starting from the file's value",
                   slo.name, a.route, a.knob, file_value, c.file_value);
    }
    c = Control{};
    c.route = a.route;
    c.knob = a.knob;
    c.file_value = file_value;
    c.observe = slo.observe;
    return;
  }
  const bool from_store = c.restored;
  c.restored = false;
  if (slo.observe || same_value(*c.position, knob->get())) return;
  const KnobMove m{a.route, a.knob, *c.position, who_of(slo),
                   fmt::format("slo {}: controller position restored after {} (the file's value "
                               "{} is unchanged)",
                               slo.name, from_store ? "a restart" : "a reload", file_value)};
  if (auto r = moves_.move(m); !r) {
    spdlog::warn("SLO controller: {}: position {} not restored: {}", slo.name, *c.position,
                 r.error().message);
    c.position = knob->get();
  }
}

json::object SloController::status(int64_t now_ms) const {
  const std::shared_ptr<const SloSet> set = current_set();
  json::array data;
  std::lock_guard lk(control_mu_);
  for (const Tracked& t : set->slos) {
    const FleetStats fleet = window_stats(t, now_ms);
    const control::WindowStats& w = fleet.stats;
    const Numbers n = numbers(w, t.slo.target);
    json::object o{{"name", t.slo.name},
                   {"scope", json::object{{std::string(config::slo_scope_name(t.slo.scope)),
                                           t.slo.scope_name}}},
                   {"target", t.slo.target},
                   {"window_s", t.slo.window_s},
                   {"min_requests", t.slo.min_requests},
                   {"mode", t.slo.observe ? "observe" : "act"},
                   {"requests", w.requests},
                   {"replicas", fleet.replicas},
                   {"success_ratio", number_or_null(n.success)},
                   {"burn_rate", number_or_null(n.burn)},
                   {"budget_remaining", number_or_null(n.remaining)},
                   {"action", nullptr},
                   {"controller", nullptr}};
    if (t.slo.action) {
      const config::SloAction& a = *t.slo.action;
      o["action"] = json::object{{"route", a.route}, {"knob", a.knob},     {"toward", a.toward},
                                 {"step", a.step},   {"hold_s", a.hold_s}, {"margin", a.margin}};
    }
    if (auto it = controls_.find(t.slo.name); it != controls_.end()) {
      const Control& c = it->second;
      o["controller"] = json::object{
          {"file_value", c.file_value},
          {"position", c.position ? json::value(*c.position) : json::value(nullptr)},
          {"last_move_ms", c.policy.last_move_ms ? json::value(*c.policy.last_move_ms)
                                                 : json::value(nullptr)},
          {"verdict", control::slo_verdict_name(c.last.verdict)},
          {"held_by", c.last.held_by}};
    }
    data.push_back(std::move(o));
  }
  return json::object{{"config_version", set->seq}, {"data", std::move(data)}};
}

}  // namespace triage::server

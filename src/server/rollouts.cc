#include "server/rollouts.h"

#include <fmt/format.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "common/clock.h"
#include "routes/split_route.h"

namespace triage::server {

namespace {

constexpr int64_t kEventsListed = 100;
constexpr int kWindowBuckets = 20;

// A step's outcomes are counted from its start (Windows::since_ms); the window bounds how far
// back a long step looks: twice the hold, at least a minute, so a step waiting for
// min_requests on little traffic still sees all of its recent requests.
int64_t window_ms(const control::RolloutSpec& spec) {
  return std::max<int64_t>(2 * spec.hold_ms, 60'000);
}

std::string who(const std::string& route) { return "rollout:" + route; }

const routes::SplitRoute* split_of(const Serving& serving, const std::string& route) {
  return dynamic_cast<const routes::SplitRoute*>(serving.routes().find(route));
}

std::optional<size_t> candidate_index(const routes::SplitRoute& split, const std::string& name) {
  for (size_t i = 0; i < split.size(); ++i) {
    if (split.child(i).name() == name) return i;
  }
  return std::nullopt;
}

telemetry::StoredRollout to_stored(const std::string& route, const control::Rollout& r,
                                   int64_t now_ms) {
  const control::RolloutStatus& s = r.status();
  return telemetry::StoredRollout{route,
                                  r.spec().fingerprint(),
                                  std::string(control::rollout_state_name(s.state)),
                                  s.step,
                                  s.step_started_ms,
                                  now_ms,
                                  s.baseline.requests,
                                  s.baseline.success_rate,
                                  s.baseline.p95_ms,
                                  s.baseline.cost_per_request};
}

control::RolloutStatus from_stored(const telemetry::StoredRollout& row) {
  control::RolloutStatus s;
  s.state = control::rollout_state_from_name(row.state).value_or(control::RolloutState::kPending);
  s.step = static_cast<int>(row.step);
  s.step_started_ms = row.step_started_ms;
  s.baseline = {row.baseline_requests, row.baseline_success, row.baseline_p95_ms,
                row.baseline_cost};
  return s;
}

}  // namespace

std::vector<double> rollout_weights(const std::vector<double>& config_weights,
                                    size_t candidate_index, double percent) {
  double others = 0;
  for (size_t i = 0; i < config_weights.size(); ++i) {
    if (i != candidate_index) others += std::max(config_weights[i], 0.0);
  }
  std::vector<double> out(config_weights.size(), 0.0);
  for (size_t i = 0; i < config_weights.size(); ++i) {
    if (i == candidate_index) {
      out[i] = percent;
    } else if (others > 0) {
      out[i] = (100.0 - percent) * std::max(config_weights[i], 0.0) / others;
    }
  }
  return out;
}

namespace {

// The split's weights at a step: rollout_weights() of its config weights.
std::vector<double> step_weights(const routes::SplitRoute& split, size_t candidate,
                                 double percent) {
  std::vector<double> config_weights;
  for (size_t i = 0; i < split.size(); ++i) config_weights.push_back(split.config_weight(i));
  return rollout_weights(config_weights, candidate, percent);
}

}  // namespace

Rollouts::Windows::Windows(std::string name, int64_t window_ms)
    : candidate(std::move(name)),
      candidate_outcomes(window_ms, kWindowBuckets),
      other_outcomes(window_ms, kWindowBuckets),
      candidate_agreement(window_ms, kWindowBuckets),
      other_agreement(window_ms, kWindowBuckets) {}

void Rollouts::Windows::restart(int64_t now_ms) {
  since_ms.store(now_ms, std::memory_order_relaxed);
  candidate_outcomes.clear();
  other_outcomes.clear();
  candidate_agreement.clear();
  other_agreement.clear();
}

Rollouts::Entry::Entry(const control::RolloutSpec& spec)
    : machine(spec),
      windows(std::make_shared<Windows>(spec.candidate, window_ms(spec))) {}

Rollouts::Rollouts(const config::Config& cfg, ConfigVersions& versions, KnobMoves& moves,
                   telemetry::Metrics& metrics, std::function<int64_t()> clock)
    : versions_(versions), moves_(moves), clock_(std::move(clock)) {
  telemetry::StoreReaderOptions options;
  options.review_writes = true;
  if (auto reader = telemetry::open_store_reader(cfg, options, "the rollouts")) {
    store_ = std::move(reader).value();
  } else {
    spdlog::info("rollout state kept in memory only: {}", reader.error().message);
  }
  step_family_ = &prometheus::BuildGauge()
                      .Name("triage_rollout_step_percent")
                      .Help("The share (percent) a progressive rollout gives its candidate now")
                      .Register(metrics.registry());
  state_family_ = &prometheus::BuildGauge()
                       .Name("triage_rollout_state")
                       .Help("1 for the state each progressive rollout is in, 0 for the others")
                       .Register(metrics.registry());
}

Rollouts::~Rollouts() { close(); }

void Rollouts::start_timer() { timer_.start(/*run_first=*/true); }

void Rollouts::close() { timer_.stop(); }

void Rollouts::set_fleet(FleetWindows* fleet) {
  std::lock_guard lk(work_mu_);
  fleet_ = fleet;
  share_windows();
}

void Rollouts::share_windows() {
  if (!fleet_) return;
  for (const auto& [route, e] : entries_) {
    const std::shared_ptr<Windows>& w = e.windows;
    const std::string key = "rollout:" + route + ":";
    // Aliasing pointers: each window lives as long as its Windows.
    using Shared = std::shared_ptr<const control::OutcomeWindow>;
    fleet_->add(key + "candidate", Shared(w, &w->candidate_outcomes));
    fleet_->add(key + "others", Shared(w, &w->other_outcomes));
    fleet_->add(key + "candidate_agreement", Shared(w, &w->candidate_agreement));
    fleet_->add(key + "others_agreement", Shared(w, &w->other_agreement));
  }
}

FleetStats Rollouts::side_stats(const std::string& route, const char* side,
                                const control::OutcomeWindow& w, int64_t since_ms,
                                int64_t now_ms) const {
  if (!fleet_) return FleetStats{w.stats(now_ms), 1};
  return fleet_->stats("rollout:" + route + ":" + side, w, now_ms, since_ms);
}

int64_t Rollouts::tick_interval_ms() {
  std::lock_guard lk(work_mu_);
  int64_t out = 1000;
  for (const auto& [route, e] : entries_) {
    out = std::min(out, e.machine.spec().evaluate_every_ms);
  }
  return out;
}

void Rollouts::consume(const core::TracePtr& trace) {
  if (trace->split_choices.empty()) return;
  std::shared_ptr<const WindowMap> windows;
  {
    std::lock_guard lk(windows_mu_);
    windows = windows_;
  }
  if (windows->empty()) return;
  const bool shadow = std::find(trace->flags.begin(), trace->flags.end(),
                                core::ReviewFlag::kShadow) != trace->flags.end();
  std::optional<bool> agrees;
  if (shadow) {
    for (const core::Span& s : trace->spans) {
      if (s.agrees) agrees = s.agrees;
    }
    if (!agrees) return;  // the candidate failed: no comparison
  }
  const int64_t now = clock_();
  for (const core::SplitChoice& choice : trace->split_choices) {
    auto it = windows->find(choice.route);
    if (it == windows->end()) continue;
    Windows& w = *it->second;
    if (trace->time_ms < w.since_ms.load(std::memory_order_relaxed)) continue;  // an older step
    const bool is_candidate = choice.child == w.candidate;
    if (shadow) {
      control::Outcome o{true, 0, 0, agrees};
      (is_candidate ? w.candidate_agreement : w.other_agreement).record(now, o);
      continue;
    }
    control::Outcome o{trace->error_code.empty(), static_cast<double>(trace->total_us) / 1000.0,
                       trace->cost_usd, std::nullopt};
    (is_candidate ? w.candidate_outcomes : w.other_outcomes).record(now, o);
  }
}

std::vector<telemetry::StoredRollout> Rollouts::saved_states() {
  std::vector<telemetry::StoredRollout> out;
  if (!store_) {
    for (const auto& [route, row] : memory_state_) out.push_back(row);
    return out;
  }
  auto rows = store_->list_rollouts();
  if (!rows) {
    spdlog::warn("rollouts: cannot read the saved state: {}", rows.error().message);
    return out;
  }
  return std::move(rows).value();
}

std::optional<telemetry::StoredRollout> Rollouts::saved_state(const std::string& route) {
  for (telemetry::StoredRollout& row : saved_states()) {
    if (row.route == route) return std::move(row);
  }
  return std::nullopt;
}

void Rollouts::sync(int64_t now_ms) {
  const std::shared_ptr<const Serving> serving = versions_.current();
  if (serving->version.seq == synced_version_) return;
  std::map<std::string, Entry> next;
  for (const std::string& name : serving->routes().route_names()) {
    const routes::SplitRoute* split = split_of(*serving, name);
    if (!split || !split->rollout()) continue;
    const control::RolloutSpec& spec = *split->rollout();
    auto old = entries_.find(name);
    if (old != entries_.end() && old->second.machine.spec().fingerprint() == spec.fingerprint()) {
      Entry kept = std::move(old->second);
      kept.applied.reset();  // the new version's knobs start at the file's weights
      next.emplace(name, std::move(kept));
      continue;
    }
    Entry fresh(spec);
    if (std::optional<telemetry::StoredRollout> row = saved_state(name);
        row && row->fingerprint == spec.fingerprint()) {
      const control::RolloutEvent ev = fresh.machine.restore(from_stored(*row), now_ms);
      next.emplace(name, std::move(fresh));
      if (leading_) record(name, next.at(name), ev);
      continue;
    }
    next.emplace(name, std::move(fresh));
  }
  if (leading_) forget_ended(next, serving->version.seq);
  entries_ = std::move(next);
  auto windows = std::make_shared<WindowMap>();
  for (auto& [name, e] : entries_) windows->emplace(name, e.windows);
  {
    std::lock_guard lk(windows_mu_);
    windows_ = std::move(windows);
  }
  synced_version_ = serving->version.seq;
  share_windows();
  for (auto& [name, e] : entries_) {
    if (leading_) apply_weights(name, e, fmt::format("config version {} applied", synced_version_));
    update_metrics(name, e);
  }
}

Error Rollouts::not_leader() const {
  const std::string leader = leadership_ ? leadership_->leader() : std::string();
  return make_error(ErrorCode::kUnavailable,
                    "this replica does not run the rollouts; send the command to the leader, "
                    "replica " + (leader.empty() ? std::string("(none right now)") : leader) +
                        " (GET /admin/fleet names it)",
                    {}, std::string(kNotLeaderParam));
}

bool Rollouts::leading_now() {
  const bool leading = !leadership_ || leadership_->is_leader();
  if (leading && !leading_) {
    spdlog::info("rollouts: leading; resuming from the saved state");
    entries_.clear();  // sync() restores each from the store, as at start-up
    synced_version_ = 0;
  }
  leading_ = leading;
  return leading;
}

void Rollouts::follow_saved() {
  for (const telemetry::StoredRollout& row : saved_states()) {
    auto it = entries_.find(row.route);
    if (it == entries_.end() || row.fingerprint != it->second.machine.spec().fingerprint()) continue;
    Entry& e = it->second;
    const control::RolloutStatus before = e.machine.status();
    if (before.state == control::rollout_state_from_name(row.state) && before.step == row.step &&
        before.step_started_ms == row.step_started_ms) {
      continue;
    }
    (void)e.machine.restore(from_stored(row), row.step_started_ms);  // the leader's event
    e.windows->restart(row.step_started_ms);
    update_metrics(row.route, e);
  }
}

void Rollouts::forget_ended(const std::map<std::string, Entry>& next, int64_t seq) {
  for (telemetry::StoredRollout row : saved_states()) {
    if (row.fingerprint.empty()) continue;  // ended before
    auto kept = next.find(row.route);
    if (kept != next.end() && kept->second.machine.spec().fingerprint() == row.fingerprint) continue;
    if (entries_.count(row.route)) {
      const telemetry::StoredRolloutEvent ended{
          unix_time_ms(), row.route, "ended", row.state, row.step, 0,
          fmt::format("config version {} {} the rollout block", seq,
                      kept == next.end() ? "removed" : "changed"),
          seq};
      if (store_) {
        (void)store_->insert_rollout_event(ended);
      } else {
        memory_events_.push_back(ended);
      }
      spdlog::info("rollout {}: ended ({})", row.route, ended.reason);
    }
    row.fingerprint.clear();  // never restored: a block that comes back starts over
    if (store_) {
      if (auto r = store_->save_rollout(row); !r) {
        spdlog::warn("rollout {}: end not stored: {}", row.route, r.error().message);
      }
    } else {
      memory_state_[row.route] = row;
    }
  }
}

void Rollouts::record(const std::string& route, Entry& e, const control::RolloutEvent& ev) {
  e.windows->restart(ev.ts_ms);  // every event starts a new measurement period
  const telemetry::StoredRolloutEvent stored{
      ev.ts_ms,         route,      ev.kind, std::string(control::rollout_state_name(ev.state)),
      ev.step,          ev.percent, ev.reason, versions_.current()->version.seq};
  const telemetry::StoredRollout state = to_stored(route, e.machine, ev.ts_ms);
  if (store_) {
    if (auto r = store_->insert_rollout_event(stored); !r) {
      spdlog::warn("rollout {}: event not stored: {}", route, r.error().message);
    }
    if (auto r = store_->save_rollout(state); !r) {
      spdlog::warn("rollout {}: state not stored: {}", route, r.error().message);
    }
  } else {
    memory_events_.push_back(stored);
    memory_state_[route] = state;
  }
  spdlog::info("rollout {}: {} ({}%): {}", route, ev.kind, ev.percent, ev.reason);
}

void Rollouts::apply_weights(const std::string& route, Entry& e, const std::string& why) {
  const std::optional<double> percent = e.machine.percent();
  if (!percent) return;  // pending: the config's weights serve
  const std::shared_ptr<const Serving> serving = versions_.current();
  const int64_t seq = serving->version.seq;
  if (e.applied && e.applied->first == seq && e.applied->second == *percent) return;
  const routes::SplitRoute* split = split_of(*serving, route);
  if (!split) return;
  const std::optional<size_t> cand = candidate_index(*split, e.machine.spec().candidate);
  if (!cand) return;
  const std::vector<double> target = step_weights(*split, *cand, *percent);
  bool all_moved = true;
  // The others first when the candidate grows, the candidate first when it shrinks: the
  // candidate's share never overshoots the step in between.
  std::vector<size_t> order;
  for (size_t i = 0; i < target.size(); ++i) order.push_back(i);
  if (target[*cand] < split->weight(*cand)) std::swap(order[0], order[*cand]);
  else std::swap(order.back(), order[*cand]);
  for (size_t i : order) {
    if (std::fabs(split->weight(i) - target[i]) < 1e-9) continue;
    auto moved = moves_.move(KnobMove{route, "children[" + std::to_string(i) + "].weight",
                                      target[i], who(route), why});
    if (!moved) {
      spdlog::warn("rollout {}: weight of child {} not moved: {}", route, i,
                   moved.error().message);
      all_moved = false;
    }
  }
  if (all_moved) e.applied = std::make_pair(seq, *percent);
}

std::optional<std::string> Rollouts::moved_by_hand(const std::string& route, const Entry& e) const {
  if (e.machine.state() != control::RolloutState::kRunning || !e.applied) return std::nullopt;
  const std::shared_ptr<const Serving> serving = versions_.current();
  if (e.applied->first != serving->version.seq) return std::nullopt;  // not applied to it yet
  const routes::SplitRoute* split = split_of(*serving, route);
  if (!split) return std::nullopt;
  const std::optional<size_t> cand = candidate_index(*split, e.machine.spec().candidate);
  if (!cand) return std::nullopt;
  const std::vector<double> target = step_weights(*split, *cand, e.applied->second);
  for (size_t i = 0; i < target.size(); ++i) {
    if (std::fabs(split->weight(i) - target[i]) < 1e-6) continue;
    const std::string knob = "children[" + std::to_string(i) + "].weight";
    const auto last = moves_.last_move(serving->version.seq, route, knob);
    return fmt::format("{} moved to {:g} by {} while the rollout held it at {:g}", knob,
                       split->weight(i), last ? last->who : "someone", target[i]);
  }
  return std::nullopt;
}

void Rollouts::update_metrics(const std::string& route, const Entry& e) {
  step_family_->Add({{"route", route}}).Set(e.machine.percent().value_or(0.0));
  for (control::RolloutState s : control::kAllRolloutStates) {
    state_family_->Add({{"route", route}, {"state", std::string(control::rollout_state_name(s))}})
        .Set(e.machine.state() == s ? 1.0 : 0.0);
  }
}

control::RolloutInput Rollouts::input(const std::string& route, const Entry& e, int64_t now_ms,
                                      int64_t* replicas) const {
  const Windows& w = *e.windows;
  const int64_t since = w.since_ms.load(std::memory_order_relaxed);
  const FleetStats candidate = side_stats(route, "candidate", w.candidate_outcomes, since, now_ms);
  const FleetStats others = side_stats(route, "others", w.other_outcomes, since, now_ms);
  const FleetStats agreement =
      side_stats(route, "candidate_agreement", w.candidate_agreement, since, now_ms);
  if (replicas) {
    *replicas = std::max({candidate.replicas, others.replicas, agreement.replicas});
  }
  return control::RolloutInput{candidate.stats, others.stats, agreement.stats};
}

void Rollouts::tick(int64_t now_ms) {
  std::lock_guard lk(work_mu_);
  const bool leading = leading_now();
  sync(now_ms);
  if (!leading) {
    follow_saved();
    return;
  }
  for (auto& [route, e] : entries_) {
    if (std::optional<std::string> moved = moved_by_hand(route, e)) {
      auto paused = e.machine.pause(now_ms);
      if (auto* ev = std::get_if<control::RolloutEvent>(&paused)) {
        ev->reason += ": " + *moved + "; POST /admin/rollouts/resume moves it back to the step";
        record(route, e, *ev);
        e.applied.reset();  // resume applies the step's weights again
        update_metrics(route, e);
      }
      continue;
    }
    std::optional<control::RolloutEvent> ev;
    if (e.machine.state() == control::RolloutState::kPending && !e.machine.spec().manual_start) {
      ev = e.machine.start(now_ms, fmt::format("config version {}", synced_version_));
    } else {
      ev = e.machine.evaluate(now_ms, input(route, e, now_ms));
    }
    if (!ev) continue;
    record(route, e, *ev);
    apply_weights(route, e, ev->kind + ": " + ev->reason);
    update_metrics(route, e);
  }
}

Result<control::RolloutEvent> Rollouts::command(const std::string& route, RolloutCommand c,
                                                int64_t now_ms, const std::string& who) {
  std::lock_guard lk(work_mu_);
  if (!leading_now()) return not_leader();
  sync(now_ms);
  auto it = entries_.find(route);
  if (it == entries_.end()) {
    return make_error(ErrorCode::kNotFound,
                      "no rollout on route '" + route + "'; GET /admin/rollouts lists them", {},
                      "route");
  }
  Entry& e = it->second;
  std::variant<control::RolloutEvent, std::string> result;
  switch (c) {
    case RolloutCommand::kStart: result = e.machine.start(now_ms, "started by " + who); break;
    case RolloutCommand::kPause: result = e.machine.pause(now_ms); break;
    case RolloutCommand::kResume: result = e.machine.resume(now_ms); break;
    case RolloutCommand::kAbort: result = e.machine.abort(now_ms, "aborted by " + who); break;
  }
  if (auto* refused = std::get_if<std::string>(&result)) {
    return make_error(ErrorCode::kInvalidRequest, *refused, {}, "route");
  }
  control::RolloutEvent ev = std::get<control::RolloutEvent>(result);
  if (c == RolloutCommand::kPause || c == RolloutCommand::kResume) ev.reason += " (by " + who + ")";
  record(route, e, ev);
  apply_weights(route, e, ev.kind + ": " + ev.reason);
  update_metrics(route, e);
  return ev;
}

Result<std::vector<telemetry::StoredRolloutEvent>> Rollouts::events(const std::string& route) {
  if (store_) return store_->list_rollout_events(route, kEventsListed);
  std::vector<telemetry::StoredRolloutEvent> out;
  for (const auto& ev : memory_events_) {
    if (ev.route == route) out.push_back(ev);
  }
  if (static_cast<int64_t>(out.size()) > kEventsListed) {
    out.erase(out.begin(), out.end() - kEventsListed);
  }
  return out;
}

std::vector<RolloutView> Rollouts::list(int64_t now_ms) {
  std::lock_guard lk(work_mu_);
  const bool leading = leading_now();
  sync(now_ms);
  if (!leading) follow_saved();
  const std::shared_ptr<const Serving> serving = versions_.current();
  std::vector<RolloutView> out;
  for (auto& [route, e] : entries_) {
    RolloutView v;
    v.route = route;
    v.spec = e.machine.spec();
    v.status = e.machine.status();
    v.percent = e.machine.percent();
    const control::RolloutInput in = input(route, e, now_ms, &v.replicas);
    v.gates = e.machine.check_gates(in);
    v.candidate = in.candidate;
    v.others = in.others;
    v.candidate_agreement = in.candidate_agreement;
    v.others_agreement = side_stats(route, "others_agreement", e.windows->other_agreement,
                                    e.windows->since_ms.load(std::memory_order_relaxed), now_ms)
                             .stats;
    if (const routes::SplitRoute* split = split_of(*serving, route)) {
      for (size_t i = 0; i < split->size(); ++i) {
        v.weights.emplace_back(split->child(i).name(), split->weight(i));
      }
    }
    auto evs = events(route);
    if (evs) v.events = std::move(evs).value();
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace triage::server

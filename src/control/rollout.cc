#include "control/rollout.h"

#include <fmt/format.h>

namespace triage::control {

namespace {

std::string opt(const std::optional<double>& v) { return v ? fmt::format("{}", *v) : "-"; }

std::string pct(double share) { return fmt::format("{:.1f}%", share * 100.0); }

std::string usd(double v) { return fmt::format("${:.6g}", v); }

}  // namespace

std::string RolloutSpec::fingerprint() const {
  std::string steps_text;
  for (double s : steps) steps_text += fmt::format("{},", s);
  return fmt::format(
      "candidate={};steps={};hold_ms={};min_requests={};success={};p95={};cost={};"
      "agreement={};every_ms={};manual={}",
      candidate, steps_text, hold_ms, min_requests, opt(gates.max_success_drop),
      opt(gates.max_p95_ratio), opt(gates.max_cost_ratio), opt(gates.min_agreement),
      evaluate_every_ms, manual_start ? 1 : 0);
}

std::string_view rollout_state_name(RolloutState s) {
  switch (s) {
    case RolloutState::kPending: return "pending";
    case RolloutState::kRunning: return "running";
    case RolloutState::kPaused: return "paused";
    case RolloutState::kPromoted: return "promoted";
    case RolloutState::kRolledBack: return "rolled_back";
    case RolloutState::kAborted: return "aborted";
  }
  return "pending";
}

std::optional<RolloutState> rollout_state_from_name(std::string_view name) {
  for (RolloutState s : kAllRolloutStates) {
    if (rollout_state_name(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<double> Rollout::percent() const {
  switch (status_.state) {
    case RolloutState::kPending: return std::nullopt;
    case RolloutState::kRunning:
    case RolloutState::kPaused: return spec_.steps.at(static_cast<size_t>(status_.step));
    case RolloutState::kPromoted: return 100.0;
    case RolloutState::kRolledBack:
    case RolloutState::kAborted: return 0.0;
  }
  return std::nullopt;
}

RolloutEvent Rollout::event(int64_t now_ms, std::string kind, std::string reason) const {
  return RolloutEvent{now_ms, std::move(kind), status_.state, status_.step,
                      percent().value_or(0.0), std::move(reason)};
}

RolloutEvent Rollout::start(int64_t now_ms, const std::string& why) {
  status_.state = RolloutState::kRunning;
  status_.step = 0;
  status_.step_started_ms = now_ms;
  status_.baseline = {};
  return event(now_ms, "started",
               fmt::format("step 1 of {} ({}%){}{}", spec_.steps.size(), spec_.steps[0],
                           why.empty() ? "" : ": ", why));
}

std::variant<RolloutEvent, std::string> Rollout::pause(int64_t now_ms) {
  if (status_.state != RolloutState::kRunning) {
    return fmt::format("the rollout is {}; only a running rollout can be paused",
                       rollout_state_name(status_.state));
  }
  status_.state = RolloutState::kPaused;
  return event(now_ms, "paused", fmt::format("held at {}%", *percent()));
}

std::variant<RolloutEvent, std::string> Rollout::resume(int64_t now_ms) {
  if (status_.state != RolloutState::kPaused) {
    return fmt::format("the rollout is {}; only a paused rollout can be resumed",
                       rollout_state_name(status_.state));
  }
  status_.state = RolloutState::kRunning;
  status_.step_started_ms = now_ms;
  return event(now_ms, "resumed",
               fmt::format("step {} ({}%) holds again from now", status_.step + 1, *percent()));
}

std::variant<RolloutEvent, std::string> Rollout::abort(int64_t now_ms, const std::string& why) {
  const RolloutState s = status_.state;
  if (s != RolloutState::kPending && s != RolloutState::kRunning && s != RolloutState::kPaused) {
    return fmt::format("the rollout is already {}; POST /admin/rollouts/start runs it again",
                       rollout_state_name(s));
  }
  status_.state = RolloutState::kAborted;
  return event(now_ms, "aborted", why.empty() ? "the candidate is back to 0%" : why);
}

RolloutEvent Rollout::restore(const RolloutStatus& saved, int64_t now_ms) {
  status_ = saved;
  const int last = static_cast<int>(spec_.steps.size()) - 1;
  if (status_.step > last) status_.step = last;
  if ((status_.state == RolloutState::kRunning || status_.state == RolloutState::kPaused) &&
      status_.step < 0) {
    status_.step = 0;
  }
  if (status_.state == RolloutState::kRunning) status_.step_started_ms = now_ms;
  const std::optional<double> p = percent();
  return event(now_ms, "restored",
               fmt::format("{}{}", rollout_state_name(status_.state),
                           p ? fmt::format(" at {}%", *p) : std::string()));
}

RolloutBaseline Rollout::reference(const WindowStats& others) const {
  if (others.requests >= spec_.min_requests && others.requests > 0) {
    return RolloutBaseline{others.requests, others.success_rate(), others.p95_latency_ms,
                           others.cost_per_request()};
  }
  return status_.baseline;
}

std::vector<GateCheck> Rollout::check_gates(const RolloutInput& in) const {
  std::vector<GateCheck> out;
  const WindowStats& c = in.candidate;
  const RolloutBaseline ref = reference(in.others);
  const bool enough = c.requests >= spec_.min_requests && c.requests > 0;
  const bool has_ref = ref.requests > 0;
  auto verdict = [&](GateCheck g, bool passed, std::string fail_detail, std::string pass_detail) {
    if (!enough) {
      g.status = "waiting";
      g.detail = fmt::format("{} of {} candidate requests", c.requests, spec_.min_requests);
    } else if (!has_ref) {
      g.status = "skipped";
      g.detail = "no reference traffic yet";
    } else {
      g.status = passed ? "pass" : "fail";
      g.detail = passed ? std::move(pass_detail) : std::move(fail_detail);
    }
    out.push_back(std::move(g));
  };
  const RolloutGates& gates = spec_.gates;
  if (gates.max_success_drop) {
    const double limit = *gates.max_success_drop;
    const double cs = c.success_rate();
    verdict(GateCheck{"success", "", cs, ref.success_rate, limit, ""},
            cs >= ref.success_rate - limit - 1e-12,
            fmt::format("success {} < {} - {:.1f} pts", pct(cs), pct(ref.success_rate),
                        limit * 100),
            fmt::format("success {} >= {} - {:.1f} pts", pct(cs), pct(ref.success_rate),
                        limit * 100));
  }
  if (gates.max_p95_ratio) {
    const double limit = *gates.max_p95_ratio;
    const double cp = c.p95_latency_ms;
    verdict(GateCheck{"p95", "", cp, ref.p95_ms, limit, ""}, cp <= limit * ref.p95_ms,
            fmt::format("p95 {:.0f} ms > {} x {:.0f} ms", cp, limit, ref.p95_ms),
            fmt::format("p95 {:.0f} ms <= {} x {:.0f} ms", cp, limit, ref.p95_ms));
  }
  if (gates.max_cost_ratio) {
    const double limit = *gates.max_cost_ratio;
    const double cc = c.cost_per_request();
    verdict(GateCheck{"cost", "", cc, ref.cost_per_request, limit, ""},
            cc <= limit * ref.cost_per_request + 1e-15,
            fmt::format("cost {}/request > {} x {}", usd(cc), limit, usd(ref.cost_per_request)),
            fmt::format("cost {}/request <= {} x {}", usd(cc), limit, usd(ref.cost_per_request)));
  }
  if (gates.min_agreement) {
    const double limit = *gates.min_agreement;
    const WindowStats& a = in.candidate_agreement;
    GateCheck g{"agreement", "", a.agreement(), limit, limit, ""};
    if (a.compared < spec_.min_requests || a.compared == 0) {
      g.status = "skipped";
      g.detail = fmt::format("{} of {} comparisons with the primary", a.compared,
                             spec_.min_requests);
    } else {
      const bool passed = a.agreement() >= limit - 1e-12;
      g.status = passed ? "pass" : "fail";
      g.detail = fmt::format("agreement {} {} {} ({} of {} compared)", pct(a.agreement()),
                             passed ? ">=" : "<", pct(limit), a.agreed, a.compared);
    }
    out.push_back(std::move(g));
  }
  return out;
}

std::optional<RolloutEvent> Rollout::evaluate(int64_t now_ms, const RolloutInput& in) {
  if (status_.state != RolloutState::kRunning) return std::nullopt;
  if (in.others.requests >= spec_.min_requests && in.others.requests > 0) {
    status_.baseline = reference(in.others);
  }
  if (in.candidate.requests < spec_.min_requests || in.candidate.requests == 0) {
    return std::nullopt;
  }
  std::string failed;
  for (const GateCheck& g : check_gates(in)) {
    if (g.status != "fail") continue;
    failed += failed.empty() ? g.detail : "; " + g.detail;
  }
  const double at = *percent();
  if (!failed.empty()) {
    const int step = status_.step;
    status_.state = RolloutState::kRolledBack;
    return event(now_ms, "rolled_back",
                 fmt::format("step {} ({}%): {}", step + 1, at, failed));
  }
  if (now_ms - status_.step_started_ms < spec_.hold_ms) return std::nullopt;
  const std::string held = fmt::format("{}% held for {} s with {} candidate requests", at,
                                       spec_.hold_ms / 1000.0, in.candidate.requests);
  if (status_.step + 1 >= static_cast<int>(spec_.steps.size())) {
    status_.state = RolloutState::kPromoted;
    return event(now_ms, "promoted", held);
  }
  ++status_.step;
  status_.step_started_ms = now_ms;
  return event(now_ms, "advanced",
               fmt::format("step {} ({}%): {}", status_.step + 1, *percent(), held));
}

}  // namespace triage::control

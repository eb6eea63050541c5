#include "routes/cascade.h"

#include <optional>

#include "config/yaml_util.h"
#include "routes/eligibility.h"
#include "routes/kind_util.h"

namespace triage::routes {

namespace {

bool escalates_on(ErrorCode code) {
  return code != ErrorCode::kInvalidRequest && code != ErrorCode::kCancelled;
}

}  // namespace

boost::asio::awaitable<Result<core::Completion>> CascadeRoute::run(const core::ChatRequest& req,
                                                                   ExecContext& ctx,
                                                                   core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  std::string history;  // "step 0 'small' rejected (arithmetic/1: ...); "
  // The route span: `detail` is for people; `cascade` is the typed record the store keeps and
  // the dashboard's funnel counts.
  auto record = [&](size_t step, core::CascadeOutcome how, std::string outcome, bool ok,
                    std::string error) {
    core::Span span;
    span.kind = core::SpanKind::kRoute;
    span.name = name_;
    span.detail = std::string(kind()) + ": " + history + outcome;
    span.start_us = micros_between(ctx.start, t0);
    span.duration_us = micros_between(t0, SteadyClock::now());
    span.ok = ok;
    span.error = std::move(error);
    span.cascade = core::CascadeStop{static_cast<int>(step), steps_[step].route->name(), how};
    ctx.trace.spans.push_back(std::move(span));
  };

  // The final step is the last one that can take the request: steps after it are skipped
  // (routes/eligibility.h), so a long request ends on the last model that can hold it.
  size_t last = steps_.size() - 1;
  while (last > 0) {
    const std::optional<Refusal> refused = steps_[last].route->refusal(req);
    if (!refused || !refused->ineligible) break;
    --last;
  }
  const size_t first_span = ctx.trace.spans.size();
  for (size_t j = last + 1; j < steps_.size(); ++j) {  // decided now: record why
    if (std::optional<Refusal> refused = steps_[j].route->refusal(req)) {
      record_refusal(ctx, *refused);
    }
    history += "step " + std::to_string(j) + " '" + steps_[j].route->name() + "' skipped; ";
  }
  bool all_refused = true;  // every step so far was refused as ineligible
  for (size_t i = 0; i < steps_.size(); ++i) {
    const CascadeStep& step = steps_[i];
    const bool final = i == last;
    const std::string label = "step " + std::to_string(i) + " '" + step.route->name() + "'";
    if (i > last) break;  // unreachable: the final step always returns
    // Built as a named local: GCC 12 mishandles conditional temporaries in co_await operands.
    std::optional<core::ChatRequest> with_logprobs;
    if (step.logprobs) with_logprobs = asking_for_logprobs(req);
    const core::ChatRequest& step_req = with_logprobs ? *with_logprobs : req;
    Result<core::Completion> r = co_await step.route->run(step_req, ctx, final ? sink : nullptr);
    if (!r) {
      const ErrorCode code = r.error().code;
      all_refused = all_refused && code == ErrorCode::kNoEligibleModel;
      if (final || !escalates_on(code)) {
        record(i, core::CascadeOutcome::kFailed,
               label + " failed (" + std::string(error_code_name(code)) + ")", false,
               std::string(error_code_name(code)));
        if (all_refused) co_return no_eligible_error(name_, ctx, first_span);
        co_return r;
      }
      history += label + " failed (" + std::string(error_code_name(code)) + "); ";
      continue;
    }
    all_refused = false;
    ChecksOutcome verdict;
    if (!step.checks.empty()) verdict = co_await run_checks(step.checks, req, *r, ctx);
    const bool passed = verdict.pass;
    const std::string& why = verdict.why;
    if (!passed && !final) {
      history += label + " rejected (" + why + "); ";
      continue;
    }
    if (i > 0) ctx.trace.flags.push_back(core::ReviewFlag::kCascaded);
    if (!passed) ctx.trace.flags.push_back(core::ReviewFlag::kFinalChecksFailed);
    if (!final && sink) {
      core::Delta d;
      d.role = "assistant";
      d.content = r->content;
      if (!r->tool_calls.is_null()) d.tool_calls = &r->tool_calls;
      if (!co_await sink->write(d)) {
        record(i, core::CascadeOutcome::kCancelled, label + " accepted; the client went away",
               false, "cancelled");
        co_return make_error(ErrorCode::kCancelled, "the client closed the connection");
      }
    }
    record(i, passed ? core::CascadeOutcome::kAccepted : core::CascadeOutcome::kFinalChecksFailed,
           label + (passed ? " accepted" : " final, checks failed (" + why + ")"), true, {});
    co_return r;
  }
  // Unreachable: the final step always returns.
  co_return make_error(ErrorCode::kInternal, "cascade '" + name_ + "' has no steps");
}

std::vector<Knob*> CascadeRoute::knobs() {
  std::vector<Knob*> out;
  for (auto& step : steps_) append_check_knobs(step.checks, out);
  return out;
}

std::unique_ptr<Route> build_cascade_route(const config::RouteSpec& spec, size_t,
                                           RouteTable& table) {
  config::MapReader r(spec.node, spec.path, table.config().path, spec.line);
  r.only({"name", "type", "steps"});
  std::vector<CascadeStep> steps;
  const auto items = r["steps"].items();
  for (size_t i = 0; i < items.size(); ++i) {
    config::MapReader s = items[i].map();
    s.only({"route", "checks"});
    CascadeStep step;
    step.route = &resolve_child(table, s["route"]);
    for (const config::Field& c : s["checks"].items()) {
      step.checks.push_back(CheckRegistry::build(c, CheckContext{&table}));
    }
    step.logprobs = needs_logprobs(step.checks);
    if (step.checks.empty() && i + 1 < items.size()) {
      s["checks"].fail("every step but the last needs at least one check (without checks it "
                       "would always be accepted and the later steps never run)");
    }
    steps.push_back(std::move(step));
  }
  if (steps.size() < 2) {
    r["steps"].fail("a cascade needs at least two steps (cheapest first, each `{route: NAME, "
                    "checks: [...]}`)");
  }
  return std::make_unique<CascadeRoute>(spec.name, std::move(steps));
}

void register_cascade_kind() { RouteTable::register_kind("cascade", build_cascade_route); }

}  // namespace triage::routes

#include "routes/pipeline.h"

#include <algorithm>
#include <cstdio>

#include "config/yaml_util.h"
#include "routes/composite_util.h"
#include "routes/kind_util.h"

namespace triage::routes {

namespace {

std::string join_quoted(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "|") + s;
  return out;
}

std::string two_decimals(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

const std::string& field_of(const StepOutput& out, StepField f) {
  return f == StepField::kVerdict ? out.verdict : out.label;
}

std::string_view field_name(StepField f) { return f == StepField::kVerdict ? "verdict" : "label"; }

}  // namespace

std::optional<std::string> PipelineRoute::render_prompt(
    size_t i, const core::ChatRequest& req, const std::vector<StepOutput>& outputs) const {
  const PipelineStep& step = steps_[i];
  if (!step.prompt) return std::nullopt;
  return step.prompt->render([&](const std::string& name) -> std::string {
    if (name == "input") return req.last_user_text();
    // steps.NAME.FIELD, validated at load.
    const size_t dot = name.rfind('.');
    const std::string step_name = name.substr(6, dot - 6);
    const std::string field = name.substr(dot + 1);
    for (size_t k = 0; k < i; ++k) {
      if (steps_[k].name != step_name) continue;
      if (field == "output") return outputs[k].output;
      if (field == "label") return outputs[k].label;
      if (field == "verdict") return outputs[k].verdict;
      if (field == "reason") return outputs[k].reason;
      return outputs[k].ran ? two_decimals(outputs[k].confidence) : std::string();
    }
    return {};
  });
}

boost::asio::awaitable<Result<core::Completion>> PipelineRoute::run(const core::ChatRequest& req,
                                                                    ExecContext& ctx,
                                                                    core::StreamSink* sink) {
  std::vector<StepOutput> outputs(steps_.size());
  std::optional<std::pair<std::string, double>> first_label;
  const size_t last = steps_.size() - 1;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const PipelineStep& step = steps_[i];
    const SteadyTime t0 = SteadyClock::now();
    const std::string span_name = name_ + "." + step.name;
    const std::string head = std::string(kind()) + ": step '" + step.name + "'";

    if (step.when_step >= 0) {
      const StepOutput& gate = outputs[static_cast<size_t>(step.when_step)];
      const std::string& value = field_of(gate, step.when_on);
      const bool listed = std::find(step.when_values.begin(), step.when_values.end(), value) !=
                          step.when_values.end();
      const bool run_it = gate.ran && (step.when_negated ? !listed : listed);
      if (!run_it) {
        const std::string what(field_name(step.when_on));
        push_route_span(ctx, span_name,
                        head + " skipped (when " + steps_[step.when_step].name +
                            (step.when_on == StepField::kLabel ? "" : " " + what) +
                            (step.when_negated ? " not in " : " in ") +
                            join_quoted(step.when_values) + ": " +
                            (gate.ran ? what + " '" + value + "'" : "that step did not run") + ")",
                        t0);
        continue;
      }
    }
    Route* route = step.route;
    std::string why;
    if (step.branch_step >= 0) {
      const StepOutput& on = outputs[static_cast<size_t>(step.branch_step)];
      const std::string& on_name = steps_[step.branch_step].name;
      const std::string& value = field_of(on, step.branch_on);
      const std::string what(field_name(step.branch_on));
      bool matched = false;
      if (on.ran) {
        for (const auto& [key, r] : step.branch_routes) {
          if (key == value) {
            route = r;
            matched = true;
            break;
          }
        }
      }
      const std::string subject =
          step.branch_on == StepField::kLabel ? on_name : on_name + " " + what;
      why = matched ? " (branch on " + subject + " = '" + value + "')"
                    : " (branch on " + subject + ": no route for " + what + " '" + value + "')";
      if (!route) {
        push_route_span(ctx, span_name, head + " skipped" + why, t0);
        continue;
      }
    }

    const bool final = i == last;
    const std::optional<std::string> prompt = render_prompt(i, req, outputs);
    std::optional<core::ChatRequest> derived;
    if (prompt) derived.emplace(sub_request(req, *prompt));
    const core::ChatRequest& step_req = derived ? *derived : req;
    std::optional<core::ChatRequest> with_logprobs;
    if (step.logprobs) with_logprobs = asking_for_logprobs(step_req);
    const core::ChatRequest& sent = with_logprobs ? *with_logprobs : step_req;
    Result<core::Completion> r = co_await route->run(sent, ctx, final ? sink : nullptr);
    const std::string target = " -> '" + route->name() + "'" + why;
    if (!r) {
      const std::string code(error_code_name(r.error().code));
      const bool skip = step.optional && !final && r.error().code != ErrorCode::kCancelled;
      push_route_span(
          ctx, span_name,
          head + target + " failed (" + code + ")" + (skip ? ", optional: skipped" : ""), t0, false,
          code);
      if (skip) continue;
      co_return r;
    }
    StepOutput& out = outputs[i];
    out.ran = true;
    out.output = r->content;
    out.label = r->label;
    out.confidence = r->confidence;
    if (!first_label && !r->label.empty()) first_label.emplace(r->label, r->confidence);
    std::string judged;
    if (!step.checks.empty()) {
      const ChecksOutcome v = co_await run_checks(step.checks, step_req, *r, ctx);
      out.verdict = v.pass ? "pass" : "fail";
      out.reason = v.why;
      judged = v.pass ? ", checks passed" : ", checks failed (" + v.why + ")";
      if (!v.pass && step.flag_on_fail) {
        core::add_flag_once(ctx.trace.flags, core::ReviewFlag::kStepChecksFailed);
      }
    }
    push_route_span(ctx, span_name, head + target + judged, t0);
    if (final) {
      if (first_label) {
        ctx.trace.label = first_label->first;
        ctx.trace.confidence = first_label->second;
      }
      attribute_answer(ctx, table_, *r);
      co_return r;
    }
  }
  // Unreachable: the final step always runs (enforced at load).
  co_return make_error(ErrorCode::kInternal, "pipeline '" + name_ + "' ended without a final step");
}

std::vector<Knob*> PipelineRoute::knobs() {
  std::vector<Knob*> out;
  for (auto& step : steps_) append_check_knobs(step.checks, out);
  return out;
}

void register_pipeline_kind() { RouteTable::register_kind("pipeline", build_pipeline_route); }

}  // namespace triage::routes

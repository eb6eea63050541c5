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

constexpr std::string_view kStepChecksFailed = "step_checks_failed";

bool valid_step_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

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
      if (!v.pass && step.flag_on_fail &&
          std::find(ctx.trace.flags.begin(), ctx.trace.flags.end(), kStepChecksFailed) ==
              ctx.trace.flags.end()) {
        ctx.trace.flags.emplace_back(kStepChecksFailed);
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

std::unique_ptr<Route> build_pipeline_route(const config::RouteSpec& spec, size_t,
                                            RouteTable& table) {
  config::MapReader r(spec.node, spec.path, table.config().path, spec.line);
  r.only({"name", "type", "steps"});
  const auto items = r["steps"].items();
  if (items.size() < 2) {
    r["steps"].fail(
        "a pipeline needs at least two steps (`{name: NAME, route: ROUTE, prompt: "
        "\"...\"}`); a single step is just its route");
  }
  std::vector<PipelineStep> steps;
  std::vector<std::string> names;
  auto verdict_value = [](const config::Field& f) {
    std::string v = f.as<std::string>();
    if (v != "pass" && v != "fail") f.fail("a verdict is pass or fail, not '" + v + "'");
    return v;
  };
  auto require_checks = [&](const config::Field& f, int index) {
    if (steps[static_cast<size_t>(index)].checks.empty()) {
      f.fail("step '" + names[static_cast<size_t>(index)] +
             "' has no checks, so it has no verdict (add `checks:` to it)");
    }
  };
  auto step_index = [&](const config::Field& f) -> int {
    const std::string n = f.as<std::string>();
    for (size_t k = 0; k < names.size(); ++k) {
      if (names[k] == n) return static_cast<int>(k);
    }
    f.fail("no earlier step named '" + n + "'" + config::suggest(n, names) +
           " (a step can only look at the steps before it)");
  };
  for (size_t i = 0; i < items.size(); ++i) {
    const bool final = i + 1 == items.size();
    config::MapReader s = items[i].map();
    s.only({"name", "route", "prompt", "when", "branch", "optional", "checks", "flag_on_fail"});
    PipelineStep step;
    const config::Field name_field = s["name"];
    step.name = name_field.as<std::string>();
    if (!valid_step_name(step.name)) {
      name_field.fail(
          "step names use letters, digits, '_' and '-' (they appear in "
          "{steps.NAME.output})");
    }
    if (std::find(names.begin(), names.end(), step.name) != names.end()) {
      name_field.fail("duplicate step name '" + step.name + "'");
    }
    if (s.has("route")) step.route = &resolve_child(table, s["route"]);

    const config::Field pf = s["prompt"];
    if (pf.present()) {
      auto known = [&](const std::string& ph) -> std::string {
        if (ph == "input") return {};
        if (ph.rfind("steps.", 0) != 0) {
          return "unknown" + config::suggest(ph, {"input", "steps.NAME.output", "steps.NAME.label",
                                                  "steps.NAME.confidence", "steps.NAME.verdict",
                                                  "steps.NAME.reason"});
        }
        const size_t dot = ph.rfind('.');
        const std::string sname = dot > 6 ? ph.substr(6, dot - 6) : std::string();
        const std::string field = ph.substr(dot + 1);
        const bool judged = field == "verdict" || field == "reason";
        if (field != "output" && field != "label" && field != "confidence" && !judged) {
          return "use steps.NAME.output, .label, .confidence, .verdict or .reason";
        }
        const auto at = std::find(names.begin(), names.end(), sname);
        if (at == names.end()) {
          return "no earlier step named '" + sname + "'" + config::suggest(sname, names);
        }
        if (judged && steps[static_cast<size_t>(at - names.begin())].checks.empty()) {
          return "step '" + sname + "' has no checks, so its " + field + " is always empty";
        }
        return {};
      };
      step.prompt = PromptTemplate::parse(pf, known);
    }

    const config::Field wf = s["when"];
    if (wf.present()) {
      if (final) wf.fail("the final step always runs (its output is the answer); drop `when`");
      config::MapReader w = wf.map();
      w.only({"step", "label_in", "label_not_in", "verdict"});
      step.when_step = step_index(w["step"]);
      const bool in = w.has("label_in"), not_in = w.has("label_not_in"), on_verdict = w.has("verdict");
      if (int(in) + int(not_in) + int(on_verdict) != 1) {
        w.fail("`when` takes exactly one of `label_in` or `label_not_in` (a list) or `verdict` "
               "(pass or fail)");
      }
      if (on_verdict) {
        step.when_on = StepField::kVerdict;
        step.when_values = {verdict_value(w["verdict"])};
        require_checks(w["step"], step.when_step);
      } else {
        step.when_negated = not_in;
        const config::Field lf = w[in ? "label_in" : "label_not_in"];
        step.when_values = string_or_list(lf);
        if (step.when_values.empty()) lf.fail("list at least one label");
      }
    }
    const config::Field bf = s["branch"];
    if (bf.present()) {
      config::MapReader b = bf.map();
      b.only({"step", "on", "routes"});
      step.branch_step = step_index(b["step"]);
      const config::Field on = b["on"];
      const std::string on_value = on.get<std::string>("label");
      if (on_value == "verdict") {
        step.branch_on = StepField::kVerdict;
        require_checks(b["step"], step.branch_step);
      } else if (on_value != "label") {
        on.fail("branch `on` is label (the default) or verdict");
      }
      config::MapReader routes = b["routes"].map();
      for (auto& [key, f] : routes.entries()) {
        if (step.branch_on == StepField::kVerdict && key != "pass" && key != "fail") {
          f.fail("a branch on the verdict maps pass and/or fail, not '" + key + "'");
        }
        step.branch_routes.emplace_back(key, &resolve_child(table, f));
      }
      if (step.branch_routes.empty()) b["routes"].fail("map at least one label to a route");
      if (final && !step.route) {
        bf.fail(
            "the final step always runs: give it a `route` for labels the branch does not "
            "list");
      }
    } else if (!step.route) {
      s["route"].fail("missing required field 'route'");
    }
    for (const config::Field& c : s["checks"].items()) {
      step.checks.push_back(CheckRegistry::build(c, &table));
    }
    step.logprobs = needs_logprobs(step.checks);
    step.flag_on_fail = s["flag_on_fail"].get<bool>(true);
    if (!step.flag_on_fail && step.checks.empty()) {
      s["flag_on_fail"].fail("flag_on_fail applies to a step's `checks`; this step has none");
    }
    step.optional = s["optional"].get<bool>(false);
    if (step.optional && final) {
      s["optional"].fail("the final step cannot be optional (its output is the answer)");
    }
    names.push_back(step.name);
    steps.push_back(std::move(step));
  }
  return std::make_unique<PipelineRoute>(spec.name, std::move(steps), table);
}

std::vector<Knob*> PipelineRoute::knobs() {
  std::vector<Knob*> out;
  for (auto& step : steps_) append_check_knobs(step.checks, out);
  return out;
}

void register_pipeline_kind() { RouteTable::register_kind("pipeline", build_pipeline_route); }

}  // namespace triage::routes

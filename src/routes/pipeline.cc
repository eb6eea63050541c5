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
      const bool listed = std::find(step.when_labels.begin(), step.when_labels.end(), gate.label) !=
                          step.when_labels.end();
      const bool run_it = gate.ran && (step.when_negated ? !listed : listed);
      if (!run_it) {
        push_route_span(
            ctx, span_name,
            head + " skipped (when " + steps_[step.when_step].name +
                (step.when_negated ? " not in " : " in ") + join_quoted(step.when_labels) + ": " +
                (gate.ran ? "label '" + gate.label + "'" : "that step did not run") + ")",
            t0);
        continue;
      }
    }
    Route* route = step.route;
    std::string why;
    if (step.branch_step >= 0) {
      const StepOutput& on = outputs[static_cast<size_t>(step.branch_step)];
      const std::string& on_name = steps_[step.branch_step].name;
      bool matched = false;
      if (on.ran) {
        for (const auto& [label, r] : step.branch_routes) {
          if (label == on.label) {
            route = r;
            matched = true;
            break;
          }
        }
      }
      why = matched ? " (branch on " + on_name + " = '" + on.label + "')"
                    : " (branch on " + on_name + ": no route for label '" + on.label + "')";
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
    Result<core::Completion> r = co_await route->run(step_req, ctx, final ? sink : nullptr);
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
    push_route_span(ctx, span_name, head + target, t0);
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
    s.only({"name", "route", "prompt", "when", "branch", "optional"});
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
                                                  "steps.NAME.confidence"});
        }
        const size_t dot = ph.rfind('.');
        const std::string sname = dot > 6 ? ph.substr(6, dot - 6) : std::string();
        const std::string field = ph.substr(dot + 1);
        if (field != "output" && field != "label" && field != "confidence") {
          return "use steps.NAME.output, steps.NAME.label or steps.NAME.confidence";
        }
        if (std::find(names.begin(), names.end(), sname) == names.end()) {
          return "no earlier step named '" + sname + "'" + config::suggest(sname, names);
        }
        return {};
      };
      step.prompt = PromptTemplate::parse(pf, known);
    }

    const config::Field wf = s["when"];
    if (wf.present()) {
      if (final) wf.fail("the final step always runs (its output is the answer); drop `when`");
      config::MapReader w = wf.map();
      w.only({"step", "label_in", "label_not_in"});
      step.when_step = step_index(w["step"]);
      const bool in = w.has("label_in"), not_in = w.has("label_not_in");
      if (in == not_in) w.fail("`when` takes exactly one of `label_in` or `label_not_in` (a list)");
      step.when_negated = not_in;
      const config::Field lf = w[in ? "label_in" : "label_not_in"];
      step.when_labels = string_or_list(lf);
      if (step.when_labels.empty()) lf.fail("list at least one label");
    }
    const config::Field bf = s["branch"];
    if (bf.present()) {
      config::MapReader b = bf.map();
      b.only({"step", "routes"});
      step.branch_step = step_index(b["step"]);
      config::MapReader routes = b["routes"].map();
      for (auto& [label, f] : routes.entries()) {
        step.branch_routes.emplace_back(label, &resolve_child(table, f));
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
    step.optional = s["optional"].get<bool>(false);
    if (step.optional && final) {
      s["optional"].fail("the final step cannot be optional (its output is the answer)");
    }
    names.push_back(step.name);
    steps.push_back(std::move(step));
  }
  return std::make_unique<PipelineRoute>(spec.name, std::move(steps), table);
}

void register_pipeline_kind() { RouteTable::register_kind("pipeline", build_pipeline_route); }

}  // namespace triage::routes

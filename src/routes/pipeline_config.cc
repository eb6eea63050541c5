// Building a `pipeline` from its config: every step's route, prompt, condition, branch and
// checks, refused at load with the field's path when anything refers to what does not exist
// (a later step, a verdict of a step without checks, an unknown placeholder).
#include <algorithm>

#include "config/yaml_util.h"
#include "routes/kind_util.h"
#include "routes/pipeline.h"

namespace triage::routes {

namespace {

bool valid_step_name(const std::string& s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
}

std::string verdict_value(const config::Field& f) {
  std::string v = f.as<std::string>();
  if (v != "pass" && v != "fail") f.fail("a verdict is pass or fail, not '" + v + "'");
  return v;
}

// Parses the steps in order; each step can only refer to the ones parsed before it.
class StepsParser {
 public:
  explicit StepsParser(RouteTable& table) : table_(table) {}

  void add(config::MapReader& s, bool final) {
    s.only({"name", "route", "prompt", "when", "branch", "optional", "checks", "flag_on_fail"});
    PipelineStep step;
    const config::Field name_field = s["name"];
    step.name = name_field.as<std::string>();
    if (!valid_step_name(step.name)) {
      name_field.fail(
          "step names use letters, digits, '_' and '-' (they appear in "
          "{steps.NAME.output})");
    }
    if (std::find(names_.begin(), names_.end(), step.name) != names_.end()) {
      name_field.fail("duplicate step name '" + step.name + "'");
    }
    if (s.has("route")) step.route = &resolve_child(table_, s["route"]);
    if (const config::Field pf = s["prompt"]; pf.present()) step.prompt = parse_prompt(pf);
    if (const config::Field wf = s["when"]; wf.present()) {
      if (final) wf.fail("the final step always runs (its output is the answer); drop `when`");
      parse_when(wf, step);
    }
    if (const config::Field bf = s["branch"]; bf.present()) {
      parse_branch(bf, step);
      if (final && !step.route) {
        bf.fail(
            "the final step always runs: give it a `route` for labels the branch does not "
            "list");
      }
    } else if (!step.route) {
      s["route"].fail("missing required field 'route'");
    }
    for (const config::Field& c : s["checks"].items()) {
      step.checks.push_back(CheckRegistry::build(c, CheckContext{&table_}));
    }
    step.logprobs = needs_logprobs(step.checks);
    step.flag_on_fail = s["flag_on_fail"].get<bool>(true);
    if (s.has("flag_on_fail") && step.checks.empty()) {
      s["flag_on_fail"].fail("flag_on_fail applies to a step's `checks`; this step has none");
    }
    step.optional = s["optional"].get<bool>(false);
    if (step.optional && final) {
      s["optional"].fail("the final step cannot be optional (its output is the answer)");
    }
    names_.push_back(step.name);
    steps_.push_back(std::move(step));
  }

  std::vector<PipelineStep> take() { return std::move(steps_); }

 private:
  int step_index(const config::Field& f) const {
    const std::string n = f.as<std::string>();
    for (size_t k = 0; k < names_.size(); ++k) {
      if (names_[k] == n) return static_cast<int>(k);
    }
    f.fail("no earlier step named '" + n + "'" + config::suggest(n, names_) +
           " (a step can only look at the steps before it)");
  }

  void require_checks(const config::Field& f, int index) const {
    if (steps_[static_cast<size_t>(index)].checks.empty()) {
      f.fail("step '" + names_[static_cast<size_t>(index)] +
             "' has no checks, so it has no verdict (add `checks:` to it)");
    }
  }

  PromptTemplate parse_prompt(const config::Field& pf) const {
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
      const auto at = std::find(names_.begin(), names_.end(), sname);
      if (at == names_.end()) {
        return "no earlier step named '" + sname + "'" + config::suggest(sname, names_);
      }
      if (judged && steps_[static_cast<size_t>(at - names_.begin())].checks.empty()) {
        return "step '" + sname + "' has no checks, so its " + field + " is always empty";
      }
      return {};
    };
    return PromptTemplate::parse(pf, known);
  }

  void parse_when(const config::Field& wf, PipelineStep& step) const {
    config::MapReader w = wf.map();
    w.only({"step", "label_in", "label_not_in", "verdict"});
    step.when_step = step_index(w["step"]);
    const bool in = w.has("label_in"), not_in = w.has("label_not_in");
    const bool on_verdict = w.has("verdict");
    if (int(in) + int(not_in) + int(on_verdict) != 1) {
      w.fail(
          "`when` takes exactly one of `label_in` or `label_not_in` (a list) or `verdict` "
          "(pass or fail)");
    }
    if (on_verdict) {
      step.when_on = StepField::kVerdict;
      step.when_values = {verdict_value(w["verdict"])};
      require_checks(w["step"], step.when_step);
      return;
    }
    step.when_negated = not_in;
    const config::Field lf = w[in ? "label_in" : "label_not_in"];
    step.when_values = string_or_list(lf);
    if (step.when_values.empty()) lf.fail("list at least one label");
  }

  void parse_branch(const config::Field& bf, PipelineStep& step) const {
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
      step.branch_routes.emplace_back(key, &resolve_child(table_, f));
    }
    if (step.branch_routes.empty()) b["routes"].fail("map at least one label to a route");
  }

  RouteTable& table_;
  std::vector<PipelineStep> steps_;
  std::vector<std::string> names_;
};

}  // namespace

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
  StepsParser parser(table);
  for (size_t i = 0; i < items.size(); ++i) {
    config::MapReader s = items[i].map();
    parser.add(s, i + 1 == items.size());
  }
  return std::make_unique<PipelineRoute>(spec.name, parser.take(), table);
}

}  // namespace triage::routes

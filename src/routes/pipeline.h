#pragma once
// `pipeline`: named steps run in order, each a route; a step's prompt is a template over the
// client's message and earlier steps' outputs and labels; the final step's output is the
// answer.
//
//   - name: support
//     type: pipeline
//     steps:
//       - name: intent
//         route: intent-local              # no prompt: the client's request, unchanged
//       - name: entities
//         route: small
//         when: {step: intent, label_in: [transfer, travel_notification]}  # else skipped
//         prompt: "Extract the entities of: {input}"
//       - name: answer
//         route: small                     # used when no branch label matches
//         branch: {step: intent, routes: {report_lost_card: medium, report_fraud: medium}}
//         prompt: "Intent: {steps.intent.label}. Entities: {steps.entities.output}. {input}"
//
// Placeholders: {input} (the client's last user message), {steps.NAME.output},
// {steps.NAME.label} and {steps.NAME.confidence} (two decimals) of an EARLIER step; anything
// else fails at load. A skipped step's output and label are empty. A step with a prompt gets a
// fresh one-message request (see routes::sub_request: metadata kept, client body dropped); a
// step without one gets the client's request as sent.
//
// Conditions: `when: {step: S, label_in: [...]}` or `label_not_in: [...]` runs the step only
// if S ran and its label is (not) listed. `branch: {step: S, routes: {LABEL: ROUTE}}` picks the
// route by S's label, falling back to `route`; with no `route` and no match the step is
// skipped. The final step must always run: it takes neither `when` nor a branch without
// `route`. `optional: true` on a non-final step turns its failure into a skip (traced); by
// default a failing step fails the pipeline with its error.
//
// Checks: `checks: [...]` on a step judge its output (against the step's own prompt) after it
// ran, in order, stopping at the first failure, each traced as a kCheck span. The verdict is
// "pass" or "fail" ({steps.NAME.verdict}; the first failure's "check/1: reason" is
// {steps.NAME.reason}); later steps can gate on it (`when: {step: S, verdict: fail}`) or branch
// on it (`branch: {step: S, on: verdict, routes: {fail: ROUTE}}`). A failure adds the trace flag
// "step_checks_failed" (a review-queue reason) unless the step says `flag_on_fail: false`, for
// a check whose failure the pipeline handles itself. The final step's checks can only flag:
// its answer is already the client's.
//
// Streaming: only the final step gets the sink, so the client sees the final output as it is
// produced and nothing of the intermediate steps.
//
// Trace: every step's own spans (model calls, checks, nested routes) and one kRoute span per
// step, named "PIPELINE.STEP", detail "pipeline/1: step 'answer' -> 'medium' (branch on
// intent = 'report_lost_card')" or "... skipped (...)". The trace's label/confidence are those
// of the first step that produced a label (the pipeline's classification), and its model is
// the one that produced the final answer.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "routes/check.h"
#include "routes/knob.h"
#include "routes/prompt_template.h"
#include "routes/route.h"
#include "routes/route_table.h"

namespace triage::routes {

// What a condition or branch reads from an earlier step.
enum class StepField { kLabel, kVerdict };

struct PipelineStep {
  std::string name;
  Route* route = nullptr;  // default route; null only with a branch (then: skip on no match)
  std::optional<PromptTemplate> prompt;  // none: the client's request as sent
  // when
  int when_step = -1;  // index of the step whose label or verdict gates this one; -1: always
  StepField when_on = StepField::kLabel;
  std::vector<std::string> when_values;
  bool when_negated = false;  // label_not_in
  // branch
  int branch_step = -1;
  StepField branch_on = StepField::kLabel;
  std::vector<std::pair<std::string, Route*>> branch_routes;  // value -> route, declared order
  bool optional = false;
  // checks on the step's output
  CheckList checks;
  bool logprobs = false;  // some check reads logprobs: the step's request asks for them
  bool flag_on_fail = true;
};

// What one step produced while a request runs.
struct StepOutput {
  bool ran = false;
  std::string output;
  std::string label;
  double confidence = 0.0;
  std::string verdict;  // "pass" / "fail"; empty when the step has no checks or did not run
  std::string reason;   // the first failing check's "name: reason"
};

class PipelineRoute final : public Route, public Tunable {
 public:
  PipelineRoute(std::string name, std::vector<PipelineStep> steps, const RouteTable& table)
      : name_(std::move(name)), steps_(std::move(steps)), table_(table) {}
  std::string_view kind() const override { return "pipeline/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

  // The prompt of step `i` for `req` given earlier outputs (pure; empty optional when the step
  // has no prompt and takes the client's request).
  std::optional<std::string> render_prompt(size_t i, const core::ChatRequest& req,
                                           const std::vector<StepOutput>& outputs) const;
  const std::vector<PipelineStep>& steps() const { return steps_; }
  // The knobs of the steps' checks, in step then check order.
  std::vector<Knob*> knobs() override;

 private:
  std::string name_;
  std::vector<PipelineStep> steps_;
  const RouteTable& table_;
};

std::unique_ptr<Route> build_pipeline_route(const config::RouteSpec& spec, size_t index,
                                            RouteTable& table);
void register_pipeline_kind();

}  // namespace triage::routes

#pragma once
// `cascade`: steps cheapest first; each non-final step's answer is judged by its checks and
// accepted on pass, else the request escalates to the next step. The last step's answer is
// final (its checks, if any, only flag the request for review).
//
//   - name: math
//     type: cascade
//     steps:
//       - route: mixtral
//         checks: [non_empty, arithmetic, {type: final_answer}]
//       - route: gpt-4
//
// Checks stop at the first failure (later ones, which may call models, are not paid for).
// A non-final step that fails with a retryable error (anything but invalid_request and
// cancelled) escalates too. Streaming: non-final steps run without the sink, so a rejected
// answer never reaches the client; an accepted non-final answer is written to the sink as one
// delta (it is already complete); the final step streams as it is produced.
//
// Trace: every model call appends its own span (and cost); each check verdict is a kCheck
// span; one kRoute span says which step was accepted, in its detail for people and in its
// typed Span::cascade (step, step route, outcome) for the store and the dashboard's funnel;
// the flag "cascaded" is added when the request escalated, "final_checks_failed" when the
// final answer failed its checks.
//
// Knobs: the cascade exposes the knobs of its steps' checks (those that are Tunable, e.g. a
// `scorer`'s threshold), in step then check order.
#include <memory>
#include <string>
#include <vector>

#include "routes/check.h"
#include "routes/knob.h"
#include "routes/route.h"
#include "routes/route_table.h"

namespace triage::routes {

struct CascadeStep {
  Route* route = nullptr;  // owned by the RouteTable
  CheckList checks;
  bool logprobs = false;  // some check needs token logprobs: the step's request asks for them
};

class CascadeRoute final : public Route, public Tunable {
 public:
  CascadeRoute(std::string name, std::vector<CascadeStep> steps)
      : name_(std::move(name)), steps_(std::move(steps)) {}
  std::string_view kind() const override { return "cascade/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;
  std::vector<Knob*> knobs() override;

 private:
  std::string name_;
  std::vector<CascadeStep> steps_;
};

// Checks are built through CheckRegistry: register the check kinds (checks::
// register_builtin_checks()) before building a table with cascades.
std::unique_ptr<Route> build_cascade_route(const config::RouteSpec& spec, size_t index,
                                           RouteTable& table);
void register_cascade_kind();

}  // namespace triage::routes

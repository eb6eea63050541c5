#pragma once
// The in-process route engine behind every `triage eval` evaluator: the config loaded once, its
// RouteTable built once on a private provider registry set up for the dataset's format, the
// request a dataset row becomes, sequential runs of a route on a private io_context, and the
// progress bar.
//
// Blocking and single-threaded: everything here runs on the calling thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/chat.h"
#include "core/trace.h"
#include "datasets/eval_data.h"
#include "eval/eval_options.h"
#include "providers/provider.h"
#include "routes/route_table.h"

namespace triage::eval {

// The engine `triage eval` runs: the config of options.config_path, its RouteTable built with
// the built-in providers, route kinds and checks, and the route named options.route. Providers
// are set up for the data, in eval only, so that no model reaches the network for an answer the
// dataset cannot grade:
//  - CSV data: every replay model replays data.path (made absolute); a replay model whose
//    response column the file lacks answers, with `synthesize_missing: true`, a marked
//    placeholder (Completion.synthesized, "replay-grades/1"), graded from the recorded grade.
//  - intent lines: every model whose provider is not `local` answers a marked placeholder
//    ("eval-stub/1"): classifier eval scores the routing decision, not the answer.
// `data` must outlive the constructor only. Not movable: the table refers to the config and the
// registry it holds. Throws config::ConfigError, ml::ModelError, and std::runtime_error
// "<config>: no route or model named '<route>'".
class EvalEngine {
 public:
  EvalEngine(const EvalOptions& options, const datasets::EvalData& data);
  EvalEngine(const EvalEngine&) = delete;
  EvalEngine& operator=(const EvalEngine&) = delete;

  const config::Config& config() const { return config_; }
  routes::RouteTable& table() { return *table_; }
  routes::Route& route() { return *route_; }

 private:
  config::Config config_;
  providers::ProviderRegistry registry_;
  std::unique_ptr<routes::RouteTable> table_;
  routes::Route* route_ = nullptr;
};

// A progress bar on stderr, drawn only when `enabled` and stderr is a TTY.
class ProgressBar {
 public:
  ProgressBar(bool enabled, int64_t total);
  void tick();

 private:
  bool on_;
  int64_t total_;
  int64_t done_ = 0;
  int last_ = -1;
};

// The request a dataset row becomes: one user message, the row's category as metadata, request
// id "eval_<i>", addressed to `model` (the route's name).
core::ChatRequest eval_request(const std::string& model, const std::string& prompt,
                               const std::string& category, std::size_t i);

// Runs `route` once per i in [0, n), sequentially on a private io_context (decisions and
// replays are in-process; sequential runs keep cost accounting exact). `request(i)` builds the
// i-th request; `done(i, result, trace)` sees its outcome. Rethrows what the run threw.
void run_requests(routes::Route& route, std::size_t n,
                  const std::function<core::ChatRequest(std::size_t)>& request,
                  const std::function<void(std::size_t, const Result<core::Completion>&,
                                           const core::Trace&)>& done);

// One model call a row's run made (a kModelCall span): the catalog model and the engine's cost.
struct ModelCall {
  std::string model;
  double cost_usd = 0.0;
  bool ok = true;
};

// What one row's run produced.
struct RouteOutcome {
  std::string model;      // the answering model; empty on error
  double cost_usd = 0.0;  // the engine's Trace.cost_usd
  int64_t routing_us = 0;
  std::vector<ModelCall> calls;  // every model call, in order (a cascade's rejected steps,
                                 // a check's second opinions, an ensemble's children...)
};

// Runs `route` over rows with `prompt` and `category` members (run_requests with eval_request),
// ticking `progress` after each row when given.
template <class Row>
std::vector<RouteOutcome> run_route(routes::Route& route, const std::vector<Row>& rows,
                                    ProgressBar* progress = nullptr) {
  std::vector<RouteOutcome> out(rows.size());
  run_requests(
      route, rows.size(),
      [&](std::size_t i) {
        return eval_request(route.name(), rows[i].prompt, rows[i].category, i);
      },
      [&](std::size_t i, const Result<core::Completion>& r, const core::Trace& trace) {
        out[i].model = r ? r->model : std::string();
        out[i].cost_usd = trace.cost_usd;
        out[i].routing_us = trace.routing_us;
        for (const core::Span& s : trace.spans) {
          if (s.kind == core::SpanKind::kModelCall) {
            out[i].calls.push_back({s.name, s.cost_usd, s.ok});
          }
        }
        if (progress) progress->tick();
      });
  return out;
}

}  // namespace triage::eval

#pragma once
// The in-process route engine behind every `triage eval` path (pairs, multi-model data,
// classifier data): the config's RouteTable built on a private provider registry, the request
// a dataset row becomes, sequential runs of a route on a private io_context, eval-only
// placeholder models, the progress bar, and the CLI shape (print text or JSON, write the plot).
//
// Blocking and single-threaded: everything here runs on the calling thread.
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/chat.h"
#include "core/trace.h"
#include "eval/eval.h"
#include "output/svg_plot.h"
#include "providers/provider.h"
#include "routes/route_table.h"

namespace triage::eval {

// Eval-only stand-in for a model that cannot or must not answer in an evaluation (no network,
// no response text): answers `text`, marked Completion.synthesized, with usage estimated from
// the prompt and `text`. `name` and `text` must outlive the client (string literals).
class PlaceholderClient final : public providers::ModelClient {
 public:
  PlaceholderClient(std::string_view name, std::string_view text) : name_(name), text_(text) {}
  std::string_view name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> complete(const core::ChatRequest& req,
                                                            SteadyTime,
                                                            providers::CallStats& stats) override;
  boost::asio::awaitable<Result<core::Completion>> stream(const core::ChatRequest& req, SteadyTime,
                                                          providers::CallStats& stats,
                                                          core::StreamSink& sink) override;

 private:
  core::Completion make(const core::ChatRequest& req) const;
  std::string_view name_;
  std::string_view text_;
};

// The engine `triage eval` runs: the config of options.config_path, its RouteTable built with
// the built-in providers, route kinds and checks, and the route named options.route.
// Not movable: the table refers to the config and the registry it holds.
class EvalEngine {
 public:
  // Lets a caller replace providers (eval-only stand-ins) before the table is built.
  using AdjustProviders = std::function<void(const config::Config&, providers::ProviderRegistry&)>;

  // With `replay_dataset` non-empty, every replay model replays that file (made absolute).
  // Throws config::ConfigError, ml::ModelError, and std::runtime_error
  // "<config>: no route or model named '<route>'".
  EvalEngine(const EvalOptions& options, const std::string& replay_dataset,
             const AdjustProviders& adjust = {});
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

// The CLI shape of every eval path: checks --format, evaluates, prints JSON or text to stdout,
// writes the SVG plot when asked. Errors go to stderr as "triage eval: <what>"; returns the
// exit code.
template <class Evaluate, class ToJson, class ToText, class ToSvg>
int run_eval_command(const EvalOptions& o, Evaluate evaluate, ToJson to_json, ToText to_text,
                     ToSvg to_svg) {
  try {
    if (o.format != "text" && o.format != "json") {
      throw std::runtime_error("--format must be text or json, got '" + o.format + "'");
    }
    if (!o.plot_path.empty()) output::plot_format(o.plot_path);  // refuse a bad path before the work
    const auto r = evaluate(o);
    if (o.format == "json") {
      std::cout << boost::json::serialize(to_json(r)) << "\n";
    } else {
      std::cout << to_text(r);
    }
    if (!o.plot_path.empty()) {
      output::write_plot(o.plot_path, to_svg(r));
      if (o.format != "json") std::cout << "plot written to " << o.plot_path << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "triage eval: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace triage::eval

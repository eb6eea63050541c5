#pragma once
// A catalog model at run time: its config, its deployments (a provider client each, balanced,
// each with its own circuit breaker, retry budget and concurrency gate), its retry policy, and
// the model's own concurrency gate (max_concurrency, over all deployments). Every
// model call in Triage goes through ModelRuntime::call(), which is where queueing, load
// shedding, retries, breakers, deadlines, cost and the model-call span are accounted, so routes
// never repeat that bookkeeping (docs/resilience.md).
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/balancer.h"
#include "control/retry.h"
#include "providers/provider.h"
#include "routes/concurrency_gate.h"
#include "routes/route.h"

namespace triage::routes {

// One deployment of a model: its name (unique within the model) and its client.
struct ModelDeployment {
  std::string name;
  std::unique_ptr<providers::ModelClient> client;
};

// A breaker transition of one of a model's deployments, for metrics and logs.
using BreakerObserver =
    std::function<void(const std::string& model, const control::BreakerTransition&)>;

class ModelRuntime {
 public:
  // One deployment, named after the model.
  ModelRuntime(const config::Model& model, std::unique_ptr<providers::ModelClient> client);
  // Several (1..control::Balancer::kMaxDeployments); throws std::invalid_argument otherwise.
  ModelRuntime(const config::Model& model, std::vector<ModelDeployment> deployments);

  const config::Model& model() const { return model_; }
  providers::ModelClient& client() { return *deployments_.front().client; }  // the first one
  const ConcurrencyGate& gate() const { return gate_; }  // the model's, over all deployments
  const control::Balancer& balancer() const { return *balancer_; }
  // Deployment `i`'s own gate (config `deployments[i].max_concurrency`) and retry budget
  // (retries after its failures, against its first attempts), i < balancer().size().
  const ConcurrencyGate& deployment_gate(std::size_t i) const { return limits_[i]->gate; }
  control::RetryBudget& retry_budget(std::size_t i) { return limits_[i]->budget; }

  // False when every deployment's circuit is open (a call would fail fast). Lock-free.
  bool available() const;
  // Where calls go when the gate sheds them (config `overflow:`); null: 503. Set once at
  // build time, before any call.
  void set_overflow(ModelRuntime* overflow) { overflow_ = overflow; }
  // Receives every breaker transition (under the breaker's mutex: be quick). Thread-safe.
  void set_breaker_observer(BreakerObserver observer);

  // Calls the model (streaming to `sink` when given), appends a kModelCall span to ctx.trace
  // and adds its tokens, cost and timings to the trace totals. On success the trace's
  // model/tier/provider name this model. Fails fast (kUnavailable, Retry-After) when every
  // deployment's circuit is open, which fallback, cascade, classify and predict take as "next
  // choice". Never throws.
  boost::asio::awaitable<Result<core::Completion>> call(const core::ChatRequest& req,
                                                        ExecContext& ctx,
                                                        core::StreamSink* sink);

 private:
  // Attempts on the deployments. Sets `no_slot` (and returns an error) when the first attempt
  // found no deployment slot before `queue_deadline`: the caller sheds the call.
  boost::asio::awaitable<Result<core::Completion>> call_upstream(const core::ChatRequest& req,
                                                                 ExecContext& ctx,
                                                                 core::StreamSink* sink,
                                                                 core::Span& span,
                                                                 SteadyTime queue_deadline,
                                                                 bool& no_slot);
  // Deployments to leave out of a pick: `failed` (when set) and those at their own limit.
  control::DeploymentSet busy_or(std::optional<std::size_t> failed) const;
  boost::asio::awaitable<Result<core::Completion>> shed(const core::ChatRequest& req,
                                                        ExecContext& ctx,
                                                        core::StreamSink* sink, core::Span span,
                                                        SteadyTime t0);
  void on_transition(const control::BreakerTransition& t);

  // What each deployment holds besides its client and breaker.
  struct DeploymentLimits {
    DeploymentLimits(int64_t max_concurrency, const control::RetryBudgetOptions& budget,
                     const WallClock& clock)
        : gate(max_concurrency), budget(budget, clock) {}
    ConcurrencyGate gate;
    control::RetryBudget budget;
  };

  const config::Model model_;
  std::vector<ModelDeployment> deployments_;
  std::vector<std::unique_ptr<DeploymentLimits>> limits_;  // index-aligned with deployments_
  control::RetryOptions retry_options_;
  std::mutex observer_mu_;
  BreakerObserver observer_;  // guarded by observer_mu_
  std::unique_ptr<control::Balancer> balancer_;
  ConcurrencyGate gate_;
  ModelRuntime* overflow_ = nullptr;
};

// "connect", "reset", "timeout", "malformed" or "http_<status>": a failure's name in traces,
// logs and the retries metric.
std::string failure_reason(const control::UpstreamFailure& failure);

}  // namespace triage::routes

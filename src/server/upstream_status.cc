#include "server/upstream_status.h"

#include <boost/json/array.hpp>

#include "control/circuit_breaker.h"

namespace triage::server {

namespace json = boost::json;

namespace {

json::object budget_json(const control::RetryBudget::Usage& u) {
  return json::object{{"calls", u.calls}, {"retries", u.retries}, {"allowed", u.allowed}};
}

json::object gate_json(const routes::ConcurrencyGate& gate) {
  return json::object{
      {"limit", gate.limit()}, {"in_use", gate.in_use()}, {"waiting", gate.waiting()}};
}

// The deployments' rows; adds their retry budgets into `model_budget`.
json::array deployments_json(routes::ModelRuntime& m, int64_t& open_circuits,
                             control::RetryBudget::Usage& model_budget) {
  json::array out;
  const control::Balancer& balancer = m.balancer();
  const std::vector<control::Balancer::DeploymentStats> stats = balancer.stats();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    const control::CircuitBreaker& breaker = balancer.breaker(i);
    if (stats[i].state != control::BreakerState::kClosed) ++open_circuits;
    const control::RetryBudget::Usage budget = m.retry_budget(i).usage();
    model_budget.calls += budget.calls;
    model_budget.retries += budget.retries;
    model_budget.allowed += budget.allowed;
    out.push_back(json::object{
        {"name", stats[i].name},
        {"state", control::breaker_state_name(stats[i].state)},
        {"opens", breaker.opens()},
        {"retry_after_ms", breaker.retry_after_ms()},
        {"latency_ms", stats[i].latency_ms},
        {"in_flight", stats[i].in_flight},
        {"picks", stats[i].picks},
        {"retry_budget", budget_json(budget)},
        {"gate", gate_json(m.deployment_gate(i))},
    });
  }
  return out;
}

}  // namespace

json::object upstream_status(const routes::RouteTable& routes) {
  json::array models;
  int64_t open_circuits = 0;
  for (const std::unique_ptr<routes::ModelRuntime>& m : routes.models()) {
    const config::Model& model = m->model();
    control::RetryBudget::Usage budget;
    json::array deployments = deployments_json(*m, open_circuits, budget);
    models.push_back(json::object{
        {"model", model.name},
        {"tier", model.tier},
        {"provider", model.provider},
        {"available", m->available()},
        {"deployments", std::move(deployments)},
        {"retry_budget", budget_json(budget)},
        {"gate", gate_json(m->gate())},
    });
  }
  return json::object{{"models", std::move(models)}, {"open_circuits", open_circuits}};
}

}  // namespace triage::server

#include "server/upstream_status.h"

#include <boost/json/array.hpp>

#include "control/circuit_breaker.h"

namespace triage::server {

namespace json = boost::json;

namespace {

json::array deployments_json(const control::Balancer& balancer, int64_t& open_circuits) {
  json::array out;
  const std::vector<control::Balancer::DeploymentStats> stats = balancer.stats();
  for (std::size_t i = 0; i < stats.size(); ++i) {
    const control::CircuitBreaker& breaker = balancer.breaker(i);
    if (stats[i].state != control::BreakerState::kClosed) ++open_circuits;
    out.push_back(json::object{
        {"name", stats[i].name},
        {"state", control::breaker_state_name(stats[i].state)},
        {"opens", breaker.opens()},
        {"retry_after_ms", breaker.retry_after_ms()},
        {"latency_ms", stats[i].latency_ms},
        {"in_flight", stats[i].in_flight},
        {"picks", stats[i].picks},
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
    const control::RetryBudget::Usage budget = m->retry_budget().usage();
    models.push_back(json::object{
        {"model", model.name},
        {"tier", model.tier},
        {"provider", model.provider},
        {"available", m->available()},
        {"deployments", deployments_json(m->balancer(), open_circuits)},
        {"retry_budget",
         json::object{{"calls", budget.calls}, {"retries", budget.retries},
                      {"allowed", budget.allowed}}},
        {"gate", json::object{{"limit", model.max_concurrency},
                              {"in_use", m->gate().in_use()},
                              {"waiting", m->gate().waiting()}}},
    });
  }
  return json::object{{"models", std::move(models)}, {"open_circuits", open_circuits}};
}

}  // namespace triage::server

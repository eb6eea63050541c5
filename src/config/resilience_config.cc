#include "config/resilience_config.h"

#include <set>

#include "config/yaml_util.h"

namespace triage::config {

void parse_retries(MapReader r, RetryConfig& out) {
  r.only({"max", "base_ms", "cap_ms", "budget_share"});
  out.max = r["max"].get<int>(out.max, Range::between(0, 10));
  out.base_ms = r["base_ms"].get<int64_t>(out.base_ms, Range::above(0));
  out.cap_ms = r["cap_ms"].get<int64_t>(out.cap_ms, Range::above(0));
  out.budget_share = r["budget_share"].get<double>(out.budget_share, Range::between(0, 10));
  if (out.cap_ms < out.base_ms) r["cap_ms"].fail("must be >= base_ms");
}

void parse_breaker(MapReader r, BreakerConfig& out) {
  r.only({"consecutive_failures", "failure_rate", "min_calls", "window_ms", "cool_down_ms"});
  out.consecutive_failures =
      r["consecutive_failures"].get<int>(out.consecutive_failures, Range::at_least(0));
  out.failure_rate = r["failure_rate"].get<double>(out.failure_rate, Range::between(0, 1));
  out.min_calls = r["min_calls"].get<int>(out.min_calls, Range::at_least(1));
  out.window_ms = r["window_ms"].get<int64_t>(out.window_ms, Range::at_least(1000));
  out.cool_down_ms = r["cool_down_ms"].get<int64_t>(out.cool_down_ms, Range::above(0));
}

void parse_resilience(MapReader r, Resilience& out) {
  r.only({"retries", "breaker"});
  parse_retries(r["retries"].map(), out.retries);
  parse_breaker(r["breaker"].map(), out.breaker);
}

std::vector<Deployment> parse_deployments(const Field& f) {
  std::vector<Deployment> out;
  if (!f.present()) return out;
  if (!f.node().IsSequence()) f.fail("expected a list of deployments ({endpoint, api_key_env, region, max_concurrency})");
  std::set<std::string> seen;
  for (const Field& item : f.items()) {
    MapReader r = item.map();
    r.only({"endpoint", "api_key_env", "region", "max_concurrency"});
    Deployment d;
    d.line = item.line();
    d.endpoint = r["endpoint"].as<std::string>();
    while (!d.endpoint.empty() && d.endpoint.back() == '/') d.endpoint.pop_back();
    d.api_key_env = r["api_key_env"].get<std::string>("");
    d.region = r["region"].get<std::string>("");
    d.max_concurrency = r["max_concurrency"].get<int64_t>(0, Range::at_least(0));
    if (!seen.insert(d.endpoint + "|" + d.api_key_env).second)
      item.fail("duplicate deployment (same endpoint and api_key_env)");
    out.push_back(std::move(d));
  }
  if (out.empty()) f.fail("the list is empty; omit 'deployments' to use the model's endpoint");
  return out;
}

}  // namespace triage::config

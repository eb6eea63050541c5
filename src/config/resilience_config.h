#pragma once
// What keeps a model's calls up (docs/resilience.md): retries, its circuit breakers, its
// deployments and where its overflow goes. Mapped onto the control:: primitives by
// routes::ModelRuntime. Defaults come from the top-level `resilience:` block, whose own
// defaults are these fields'.
#include <cstdint>
#include <string>
#include <vector>

namespace triage::config {

struct RetryConfig {
  int max = 2;                 // retries after the first attempt (LiteLLM's default)
  int64_t base_ms = 250;       // full-jitter backoff: uniform in [0, min(cap_ms, base_ms << n)]
  int64_t cap_ms = 4000;
  double budget_share = 0.2;   // retries at most this share of the model's calls over 10 s
};

struct BreakerConfig {
  int consecutive_failures = 5;  // 0: off
  double failure_rate = 0.5;     // share of failed calls over window_ms; 0: off
  int min_calls = 20;            // calls the window needs before the rate counts
  int64_t window_ms = 30000;
  int64_t cool_down_ms = 5000;   // open this long before a probe; doubles on a failed probe
};

struct Resilience {
  RetryConfig retries;
  BreakerConfig breaker;
};

// One endpoint serving a model (a region, a key). Absent: the model's own endpoint.
struct Deployment {
  std::string endpoint;
  std::string api_key_env;
  std::string region;
  // Calls in flight to this deployment at most (its own quota, say); 0: only the model's
  // max_concurrency bounds it. Calls past it go to another deployment or wait (max_queue_ms).
  int64_t max_concurrency = 0;
  int line = 0;
};

}  // namespace triage::config

namespace triage::config {
class Field;
class MapReader;
// Reads a `resilience:` block or a model's `retries:` / `breaker:` fields onto `out` (whose
// current values are the defaults). Throws ConfigError at the field.
void parse_resilience(MapReader r, Resilience& out);
void parse_retries(MapReader r, RetryConfig& out);
void parse_breaker(MapReader r, BreakerConfig& out);
// A model's `deployments:` list. Endpoint and region are required; api_key_env optional.
std::vector<Deployment> parse_deployments(const Field& f);
}  // namespace triage::config

#pragma once
// Metrics of the shared limit backend (limits.backend: redis; docs/metrics.md), brought up to
// date from the backend's counters each time /metrics is rendered:
//   triage_limit_backend_errors_total{backend="redis",outcome="admitted_uncounted"|"refused"}
//     requests whose limits Redis could not answer for, by what on_redis_error did with them
//   triage_limit_backend_settles_lost_total{backend="redis"}  settles that never reached Redis
//   triage_limit_backend_settles_parked{backend="redis"}      settles held while Redis is away
//   triage_limit_backend_up{backend="redis"}                   1 while connected, else 0
//   triage_limit_backend_connects_total{backend="redis"}       (re)connects, the first included
// Nothing is registered for the in-memory backend (it cannot be away).
//
// Threading: refresh() may run on any thread; it serialises itself.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <mutex>

#include "control/redis_limits.h"

namespace triage::server {

class LimitBackendMetrics {
 public:
  // `backend` may be null (the in-memory backend): then nothing is registered or refreshed.
  LimitBackendMetrics(control::RedisLimitBackend* backend, prometheus::Registry& registry);
  void refresh();

 private:
  control::RedisLimitBackend* backend_;
  std::mutex mu_;
  control::RedisLimitBackend::Stats last_;  // guarded by mu_: what the counters hold
  prometheus::Counter* admitted_uncounted_ = nullptr;
  prometheus::Counter* refused_ = nullptr;
  prometheus::Counter* settles_lost_ = nullptr;
  prometheus::Counter* connects_ = nullptr;
  prometheus::Gauge* parked_ = nullptr;
  prometheus::Gauge* up_ = nullptr;
};

}  // namespace triage::server

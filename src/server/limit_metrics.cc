#include "server/limit_metrics.h"

namespace triage::server {

LimitBackendMetrics::LimitBackendMetrics(control::RedisLimitBackend* backend,
                                         prometheus::Registry& registry)
    : backend_(backend) {
  if (backend_ == nullptr) return;
  const prometheus::Labels redis = {{"backend", "redis"}};
  auto& errors = prometheus::BuildCounter()
                     .Name("triage_limit_backend_errors_total")
                     .Help(
                         "Requests whose key limits the limit backend could not answer for, by "
                         "what the key's on_redis_error did (admitted_uncounted: open; "
                         "refused: closed, a 503)")
                     .Register(registry);
  admitted_uncounted_ = &errors.Add({{"backend", "redis"}, {"outcome", "admitted_uncounted"}});
  refused_ = &errors.Add({{"backend", "redis"}, {"outcome", "refused"}});
  settles_lost_ = &prometheus::BuildCounter()
                       .Name("triage_limit_backend_settles_lost_total")
                       .Help(
                           "Settles that never reached the limit backend (their reservations "
                           "stay counted in flight until their period ends)")
                       .Register(registry)
                       .Add(redis);
  connects_ = &prometheus::BuildCounter()
                   .Name("triage_limit_backend_connects_total")
                   .Help("Connections made to the limit backend, the first included")
                   .Register(registry)
                   .Add(redis);
  parked_ = &prometheus::BuildGauge()
                 .Name("triage_limit_backend_settles_parked")
                 .Help("Settles held while the limit backend is unreachable, sent when it is back")
                 .Register(registry)
                 .Add(redis);
  up_ = &prometheus::BuildGauge()
             .Name("triage_limit_backend_up")
             .Help("1 while this replica is connected to the limit backend, else 0")
             .Register(registry)
             .Add(redis);
}

void LimitBackendMetrics::refresh() {
  if (backend_ == nullptr) return;
  const control::RedisLimitBackend::Stats now = backend_->stats();
  std::lock_guard lock(mu_);
  const auto grow = [](prometheus::Counter* c, int64_t was, int64_t is) {
    if (is > was) c->Increment(static_cast<double>(is - was));
  };
  grow(admitted_uncounted_, last_.admitted_uncounted, now.admitted_uncounted);
  grow(refused_, last_.refused_unavailable, now.refused_unavailable);
  grow(settles_lost_, last_.settles_lost, now.settles_lost);
  grow(connects_, last_.client.connects, now.client.connects);
  parked_->Set(static_cast<double>(now.client.parked));
  up_->Set(now.client.connected ? 1.0 : 0.0);
  last_ = now;
}

}  // namespace triage::server

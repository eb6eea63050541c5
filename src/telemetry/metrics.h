#pragma once
// Prometheus metrics, updated from finished traces and rendered for GET /metrics in the text
// exposition format 0.0.4. Every metric, label and unit is documented in docs/metrics.md.
//
// Label values come from the catalog and the route tree (trace.model, trace.route, tier) and
// from error code names, never from client-controlled text, so cardinality is bounded by the
// configuration.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/trace.h"
#include "telemetry/request_store.h"

namespace triage::telemetry {

class Metrics final : public core::TraceSink {
 public:
  // Bucket upper bounds. Seconds: 1 ms .. 120 s. Tokens: powers of 4, 1 .. 4M.
  static const std::vector<double>& latency_buckets_s();
  static const std::vector<double>& token_buckets();

  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Updates every trace-derived metric. Thread-safe; called concurrently from I/O threads.
  // After the first trace of a label combination, costs one shared-lock hash lookup plus
  // atomic updates; it never does I/O.
  void consume(const core::TracePtr& trace) override;
  void record(const core::Trace& trace);  // same, without the shared_ptr

  // triage_inflight_requests: the server calls inc when it accepts a request and dec when the
  // response is finished. Thread-safe.
  void inflight_inc() { inflight_->Increment(); }
  void inflight_dec() { inflight_->Decrement(); }

  // The store whose dropped()/written() counters render as triage_store_dropped_total and
  // triage_store_written_total. May be null (not rendered). The store must outlive this object
  // or be reset to null first. Thread-safe.
  void set_store(const RequestStore* store) { store_.store(store, std::memory_order_release); }

  // The full exposition text (Content-Type: text/plain; version=0.0.4). Thread-safe.
  std::string render() const;

  // For adding gateway metrics that are not trace-derived (circuit breakers, SLO state).
  prometheus::Registry& registry() { return *registry_; }

 private:
  // Every metric object one trace touches, for one label combination.
  struct Series {
    prometheus::Counter* requests = nullptr;
    prometheus::Counter* errors = nullptr;  // null when the combination has no error code
    prometheus::Histogram* token_usage_input = nullptr;
    prometheus::Histogram* token_usage_output = nullptr;
    prometheus::Counter* tokens_input = nullptr;
    prometheus::Counter* tokens_output = nullptr;
    prometheus::Histogram* operation_duration = nullptr;
    prometheus::Histogram* request_duration = nullptr;
    prometheus::Counter* cost = nullptr;
  };
  enum Part { kRouting, kQueue, kUpstreamTtfb, kUpstream, kOverhead, kPartCount };

  const Series& series_for(const core::Trace& t);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_family_;
  prometheus::Family<prometheus::Counter>* errors_family_;
  prometheus::Family<prometheus::Histogram>* token_usage_family_;
  prometheus::Family<prometheus::Counter>* tokens_family_;
  prometheus::Family<prometheus::Histogram>* operation_duration_family_;
  prometheus::Family<prometheus::Histogram>* request_duration_family_;
  prometheus::Family<prometheus::Histogram>* latency_part_family_;
  prometheus::Family<prometheus::Counter>* cost_family_;
  std::array<prometheus::Histogram*, kPartCount> parts_{};
  prometheus::Gauge* inflight_;

  std::atomic<const RequestStore*> store_{nullptr};

  // Key: route, model, tier, status class and error code joined by '\x1f'. Entries are never
  // removed, so references stay valid; node-based map keeps them stable across rehashes.
  std::shared_mutex series_mu_;
  std::unordered_map<std::string, Series> series_;  // guarded by series_mu_
};

}  // namespace triage::telemetry

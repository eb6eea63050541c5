#pragma once
// Prometheus metrics, updated from finished traces and rendered for GET /metrics in the text
// exposition format 0.0.4. Every metric, label and unit is documented in docs/metrics.md.
//
// Most label values come from the catalog and the route tree (trace.model, trace.route, tier,
// check names) and from error code names, so their cardinality is bounded by the
// configuration. Two come from clients (the x-triage-category / x-triage-cohort headers) and
// trace flags come from route code: those go through a LabelCap (the first N distinct values
// are kept, later ones become "other"), so a client cannot grow the series count without bound.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "core/trace.h"
#include "telemetry/request_store.h"

namespace triage::telemetry {

// Bounds the distinct values of a client-controlled label. Values are sanitised (bytes outside
// printable ASCII become '_', at most kMaxLength bytes), "" stays "" and costs no slot; the
// first `capacity` distinct values are kept, every later one maps to "other". Thread-safe;
// after a value was admitted, map() is one shared-lock hash lookup.
class LabelCap {
 public:
  static constexpr size_t kMaxLength = 64;
  static constexpr std::string_view kOther = "other";

  explicit LabelCap(size_t capacity) : capacity_(capacity) {}
  // The label value to use. The view stays valid for the life of this object.
  std::string_view map(std::string_view value);
  size_t admitted() const;

 private:
  const size_t capacity_;
  mutable std::shared_mutex mu_;
  std::unordered_set<std::string> values_;  // guarded by mu_; node-based: views stay valid
};

// Request count, actual cost and counterfactual cost over a sliding window: a ring of
// per-second buckets, so a query sums at most `seconds` buckets and an update touches one.
// Thread-safe (one mutex, held for a few additions).
class CostWindow {
 public:
  struct Totals {
    int64_t requests = 0;
    double cost_usd = 0.0;
    double counterfactual_usd = 0.0;
  };

  explicit CostWindow(int seconds);
  void add(int64_t now_ms, double cost_usd, double counterfactual_usd);
  // Everything added in the last `seconds` seconds: buckets s with now_s - seconds < s <= now_s.
  Totals totals(int64_t now_ms) const;
  int seconds() const { return static_cast<int>(buckets_.size()); }

 private:
  struct Bucket {
    int64_t second = INT64_MIN;
    int64_t requests = 0;
    double cost_usd = 0.0;
    double counterfactual_usd = 0.0;
  };
  mutable std::mutex mu_;
  std::vector<Bucket> buckets_;  // guarded by mu_; index = second mod size
};

struct MetricsOptions {
  // Prices of the model savings are measured against (config reference_model): a request's
  // counterfactual cost is config::cost_usd(reference prices, tokens_in, tokens_out). Unset:
  // the counterfactual is 0 (gauges still rendered).
  std::optional<config::Prices> reference_prices;
  std::string reference_model;
  // Time source of the sliding windows; null = the system clock. Shared so tests keep theirs.
  std::shared_ptr<const WallClock> clock;
  int window_seconds = 300;  // the "5m" window of the CPI/savings gauges
  std::string window_label = "5m";
  size_t label_cap = 100;  // distinct category / cohort / flag values kept, each

  // Reference prices from cfg.reference_model (when it names a catalog model), system clock.
  static MetricsOptions from_config(const config::Config& cfg);
};

class Metrics final : public core::TraceSink {
 public:
  // Bucket upper bounds. Seconds: 1 ms .. 120 s. Tokens: powers of 4, 1 .. 4M.
  static const std::vector<double>& latency_buckets_s();
  static const std::vector<double>& token_buckets();

  explicit Metrics(MetricsOptions options = {});
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Updates every trace-derived metric. Thread-safe; called concurrently from I/O threads.
  // After the first trace of a label combination, costs a few shared-lock hash lookups (one
  // per label set: request, category, cohort, each model call / check / flag) plus atomic
  // updates and one short mutex for the window; it never does I/O.
  void consume(const core::TracePtr& trace) override;
  void record(const core::Trace& trace);  // same, without the shared_ptr

  // triage_inflight_requests counts the live scopes this returns: +1 now, -1 when the scope
  // ends, however it ends (return, exception, a request coroutine destroyed mid-flight). The
  // server holds one per chat request. Thread-safe; the Metrics must outlive the scope.
  class InflightScope {
   public:
    explicit InflightScope(prometheus::Gauge& gauge) : gauge_(&gauge) { gauge_->Increment(); }
    InflightScope(const InflightScope&) = delete;
    InflightScope& operator=(const InflightScope&) = delete;
    ~InflightScope() { gauge_->Decrement(); }

   private:
    prometheus::Gauge* gauge_;
  };
  [[nodiscard]] InflightScope track_inflight() { return InflightScope(*inflight_); }

  // triage_requests_shed_total{reason="server_capacity"}: a request refused at once because
  // its I/O thread was at server.max_requests_per_thread. Thread-safe.
  void count_shed_at_capacity() { shed_at_capacity_->Increment(); }

  // triage_config_version: the sequence number of the config version now serving
  // (docs/config_versions.md). Thread-safe.
  void set_config_version(int64_t seq) { config_version_->Set(static_cast<double>(seq)); }
  // triage_config_reloads_total{result="applied"|"refused"}: one reload attempt (SIGHUP, POST
  // /admin/config, rollback). Thread-safe.
  void count_config_reload(bool applied) {
    (applied ? reloads_applied_ : reloads_refused_)->Increment();
  }
  // triage_knob_moves_total{route,knob}: a knob moved at run time (PUT /admin/knobs). Labels
  // are bounded by the config's routes and knobs. Thread-safe.
  void count_knob_move(const std::string& route, const std::string& knob) {
    knob_moves_family_->Add({{"route", route}, {"knob", knob}}).Increment();
  }

  // triage_leader{replica} 0/1: whether this replica holds the lease "controller" (runs the
  // SLO controller and rollouts; docs/scaling.md "One controller"); and
  // triage_leader_changes_total: times it took or lost the lease. Thread-safe.
  void set_leader(const std::string& replica, bool leader) {
    leader_family_->Add({{"replica", replica}}).Set(leader ? 1.0 : 0.0);
  }
  void count_leader_change() { leader_changes_->Increment(); }

  // triage_slo_success_ratio / _burn_rate / _budget_remaining {slo}: one SLO's numbers over its
  // window (docs/slo.md "Metrics"), set by the SLO controller at each evaluation. Labels are
  // bounded by the config's SLOs. Thread-safe.
  void set_slo(const std::string& slo, double success_ratio, double burn_rate,
               double budget_remaining);

  // triage_fleet_publish_errors_total: a publish of this replica's window counts to the shared
  // store failed. triage_fleet_replicas: replicas whose counts the last read found, this one
  // included (docs/scaling.md "Fleet numbers"). Thread-safe.
  void count_fleet_publish_error() { fleet_publish_errors_->Increment(); }
  void set_fleet_replicas(int64_t n) { fleet_replicas_->Set(static_cast<double>(n)); }

  // The store whose dropped()/written() counters render as triage_store_dropped_total and
  // triage_store_written_total. May be null (not rendered). The store must outlive this object
  // or be reset to null first. Thread-safe.
  void set_store(const RequestStore* store) { store_.store(store, std::memory_order_release); }

  // The full exposition text (Content-Type: text/plain; version=0.0.4). Thread-safe. Sets the
  // window gauges from the clock's current time first.
  std::string render() const;

  // Totals of the CPI/savings window at the clock's current time. Thread-safe.
  CostWindow::Totals window_totals() const;
  // A request's counterfactual cost on the reference model (0 without reference prices).
  double counterfactual_usd(const core::Trace& t) const;

  // A circuit breaker moved to `state` ("closed" | "open" | "half_open"): sets
  // triage_circuit_state{model,deployment} (0 closed, 1 open, 2 half_open) and counts
  // triage_circuit_transitions_total{model,deployment,to}. With `transition` false, only sets
  // the gauge (its initial value). Thread-safe.
  void record_breaker(std::string_view model, std::string_view deployment,
                      std::string_view state, bool transition = true);

  // For adding gateway metrics that are not trace-derived (circuit breakers, SLO state,
  // the OTLP exporter's counters).
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
    prometheus::Histogram* ttft = nullptr;  // streams only (same for both below)
    prometheus::Histogram* time_to_first_chunk = nullptr;
  };
  struct CategorySeries {  // category x route x tier x outcome
    prometheus::Counter* requests = nullptr;
    prometheus::Counter* cost = nullptr;
  };
  struct CohortSeries {  // cohort x outcome
    prometheus::Counter* requests = nullptr;
    prometheus::Counter* cost = nullptr;
  };
  struct CallSeries {  // model call spans: model x tier x outcome
    prometheus::Counter* calls = nullptr;
    prometheus::Counter* cost = nullptr;
    prometheus::Counter* tokens_input = nullptr;
    prometheus::Counter* tokens_output = nullptr;
  };
  enum Part { kRouting, kQueue, kUpstreamTtfb, kUpstream, kOverhead, kPartCount };

  // A map from a joined label key to cached series, for one kind of label set. Entries are
  // never removed and the map is node-based, so returned references stay valid.
  template <typename V>
  struct Cache {
    std::shared_mutex mu;
    std::unordered_map<std::string, V> map;  // guarded by mu
  };
  template <typename V, typename Make>
  static const V& cached(Cache<V>& cache, std::string key, Make make);

  const Series& series_for(const core::Trace& t);
  void record_spans(const core::Trace& t);
  void record_flags(const core::Trace& t);

  const MetricsOptions options_;
  std::shared_ptr<const WallClock> clock_;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_family_;
  prometheus::Family<prometheus::Counter>* errors_family_;
  prometheus::Family<prometheus::Histogram>* token_usage_family_;
  prometheus::Family<prometheus::Counter>* tokens_family_;
  prometheus::Family<prometheus::Histogram>* operation_duration_family_;
  prometheus::Family<prometheus::Histogram>* request_duration_family_;
  prometheus::Family<prometheus::Histogram>* latency_part_family_;
  prometheus::Family<prometheus::Counter>* cost_family_;
  prometheus::Family<prometheus::Histogram>* ttft_family_;
  prometheus::Family<prometheus::Histogram>* first_chunk_family_;
  prometheus::Family<prometheus::Counter>* category_requests_family_;
  prometheus::Family<prometheus::Counter>* category_cost_family_;
  prometheus::Family<prometheus::Counter>* cohort_requests_family_;
  prometheus::Family<prometheus::Counter>* cohort_cost_family_;
  prometheus::Family<prometheus::Counter>* key_requests_family_;
  prometheus::Family<prometheus::Counter>* key_cost_family_;
  prometheus::Family<prometheus::Counter>* model_calls_family_;
  prometheus::Family<prometheus::Counter>* model_call_cost_family_;
  prometheus::Family<prometheus::Counter>* model_call_tokens_family_;
  prometheus::Family<prometheus::Counter>* escalations_family_;
  prometheus::Family<prometheus::Counter>* check_verdicts_family_;
  prometheus::Family<prometheus::Counter>* review_flags_family_;
  prometheus::Family<prometheus::Counter>* retries_family_;
  prometheus::Family<prometheus::Counter>* shed_family_;
  prometheus::Family<prometheus::Gauge>* circuit_state_family_;
  prometheus::Family<prometheus::Counter>* circuit_transitions_family_;
  std::array<prometheus::Histogram*, kPartCount> parts_{};
  prometheus::Gauge* inflight_;
  prometheus::Counter* shed_at_capacity_;
  prometheus::Gauge* config_version_;
  prometheus::Counter* reloads_applied_;
  prometheus::Counter* reloads_refused_;
  prometheus::Family<prometheus::Counter>* knob_moves_family_;
  prometheus::Family<prometheus::Gauge>* leader_family_;
  prometheus::Counter* leader_changes_;
  prometheus::Family<prometheus::Gauge>* slo_success_family_;
  prometheus::Family<prometheus::Gauge>* slo_burn_family_;
  prometheus::Family<prometheus::Gauge>* slo_budget_family_;
  prometheus::Counter* fleet_publish_errors_;
  prometheus::Gauge* fleet_replicas_;
  prometheus::Family<prometheus::Counter>* cache_family_;  // triage_cache_requests_total
  // Window gauges, set at render time from window_.
  prometheus::Gauge* window_requests_;
  prometheus::Gauge* window_cost_;
  prometheus::Gauge* cpi_;
  prometheus::Gauge* counterfactual_;
  prometheus::Gauge* savings_;
  prometheus::Gauge* savings_ratio_;

  std::atomic<const RequestStore*> store_{nullptr};

  LabelCap categories_;
  LabelCap cohorts_;
  LabelCap keys_;  // client key names (ids when unnamed); never a secret
  CostWindow window_;

  // Key: route, model, tier, status class and error code joined by '\x1f'.
  Cache<Series> series_;
  Cache<CategorySeries> category_series_;          // category, route, tier, outcome
  Cache<CohortSeries> cohort_series_;              // cohort, outcome
  Cache<CohortSeries> key_series_;                 // key, outcome
  Cache<CallSeries> call_series_;                  // model, tier, outcome
  Cache<prometheus::Counter*> check_series_;       // check, verdict
  Cache<prometheus::Counter*> retry_series_;       // model, reason
  Cache<prometheus::Counter*> shed_series_;        // model, outcome
  Cache<prometheus::Counter*> escalation_series_;  // route, kind
  Cache<prometheus::Counter*> flag_series_;        // flag (a closed set: core::ReviewFlag)
};

// "ok" (2xx), "client_error" (4xx but 499), "cancelled" (499 or error code cancelled),
// "error" (everything else): the `outcome` label.
std::string_view outcome_of(const core::Trace& t);

}  // namespace triage::telemetry

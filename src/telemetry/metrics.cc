#include "telemetry/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <mutex>

#include "telemetry/counterfactual.h"

namespace triage::telemetry {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

constexpr double kUsPerSecond = 1e6;

std::string status_class(int http_status) {
  if (http_status < 100 || http_status > 599) return "other";
  return std::string(1, static_cast<char>('0' + http_status / 100)) + "xx";
}

bool model_called(const core::Trace& t) {
  if (t.upstream_us > 0) return true;
  for (const core::Span& s : t.spans) {
    if (s.kind == core::SpanKind::kModelCall) return true;
  }
  return false;
}

// "a\x1fb\x1fc" from the parts.
std::string join_key(std::initializer_list<std::string_view> parts) {
  size_t n = parts.size();
  for (std::string_view p : parts) n += p.size();
  std::string key;
  key.reserve(n);
  for (std::string_view p : parts) key.append(p).append(1, '\x1f');
  return key;
}

prometheus::MetricFamily counter_family(const std::string& name, const std::string& help,
                                        double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Counter;
  f.metric.emplace_back();
  f.metric.back().counter.value = value;
  return f;
}

prometheus::MetricFamily gauge_family(const std::string& name, const std::string& help,
                                      double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Gauge;
  f.metric.emplace_back();
  f.metric.back().gauge.value = value;
  return f;
}

}  // namespace

std::string_view LabelCap::map(std::string_view value) {
  if (value.empty()) return {};
  std::string clean(value.substr(0, kMaxLength));
  for (char& c : clean) {
    if (c < 0x20 || c > 0x7e) c = '_';
  }
  {
    std::shared_lock lk(mu_);
    auto it = values_.find(clean);
    if (it != values_.end()) return *it;
    if (values_.size() >= capacity_) return kOther;
  }
  std::unique_lock lk(mu_);
  auto it = values_.find(clean);
  if (it != values_.end()) return *it;
  if (values_.size() >= capacity_) return kOther;
  return *values_.insert(std::move(clean)).first;
}

size_t LabelCap::admitted() const {
  std::shared_lock lk(mu_);
  return values_.size();
}

namespace {
int64_t floor_second(int64_t ms) { return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000); }
}  // namespace

CostWindow::CostWindow(int seconds) : buckets_(static_cast<size_t>(std::max(1, seconds))) {}

void CostWindow::add(int64_t now_ms, double cost_usd, double counterfactual_usd) {
  const int64_t sec = floor_second(now_ms);
  const auto n = static_cast<int64_t>(buckets_.size());
  std::lock_guard lk(mu_);
  Bucket& b = buckets_[static_cast<size_t>(((sec % n) + n) % n)];
  if (b.second != sec) b = Bucket{sec, 0, 0.0, 0.0};
  ++b.requests;
  b.cost_usd += cost_usd;
  b.counterfactual_usd += counterfactual_usd;
}

CostWindow::Totals CostWindow::totals(int64_t now_ms) const {
  const int64_t sec = floor_second(now_ms);
  const auto n = static_cast<int64_t>(buckets_.size());
  Totals t;
  std::lock_guard lk(mu_);
  for (const Bucket& b : buckets_) {
    if (b.second > sec - n && b.second <= sec) {
      t.requests += b.requests;
      t.cost_usd += b.cost_usd;
      t.counterfactual_usd += b.counterfactual_usd;
    }
  }
  return t;
}

MetricsOptions MetricsOptions::from_config(const config::Config& cfg) {
  MetricsOptions o;
  if (const config::Model* ref = cfg.find_model(cfg.reference_model)) {
    o.reference_prices = ref->prices;
    o.reference_model = ref->name;
  }
  return o;
}

std::string_view outcome_of(const core::Trace& t) {
  if (t.http_status == 499 || t.error_code == "cancelled") return "cancelled";
  if (t.http_status >= 200 && t.http_status < 300 && t.error_code.empty()) return "ok";
  if (t.http_status >= 400 && t.http_status < 500) return "client_error";
  return "error";
}

template <typename V, typename Make>
const V& Metrics::cached(Cache<V>& cache, std::string key, Make make) {
  {
    std::shared_lock lk(cache.mu);
    auto it = cache.map.find(key);
    if (it != cache.map.end()) return it->second;
  }
  // First use of this label set: Family::Add returns the existing metric for labels already
  // added, so concurrent creation converges on the same objects.
  V v = make();
  std::unique_lock lk(cache.mu);
  return cache.map.try_emplace(std::move(key), v).first->second;
}

const std::vector<double>& Metrics::latency_buckets_s() {
  static const std::vector<double> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,   0.25,   0.5,   1.0,  2.5,   5.0,
                                               10.0,  20.0,   30.0,  60.0, 120.0};
  return kBuckets;
}

const std::vector<double>& Metrics::token_buckets() {
  static const std::vector<double> kBuckets = {1,    4,     16,    64,     256,     1024,
                                               4096, 16384, 65536, 262144, 1048576, 4194304};
  return kBuckets;
}

Metrics::Metrics(MetricsOptions options)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : std::make_shared<SystemWallClock>()),
      registry_(std::make_shared<prometheus::Registry>()),
      categories_(options_.label_cap),
      cohorts_(options_.label_cap),
      keys_(options_.label_cap),
      window_(options_.window_seconds) {
  auto& r = *registry_;
  requests_family_ = &BuildCounter()
                          .Name("triage_requests_total")
                          .Help(
                              "Requests answered, by route, served model, tier and HTTP "
                              "status class")
                          .Register(r);
  errors_family_ = &BuildCounter()
                        .Name("triage_errors_total")
                        .Help("Failed requests, by served model and error code")
                        .Register(r);
  token_usage_family_ = &BuildHistogram()
                             .Name("gen_ai_client_token_usage")
                             .Help(
                                 "Tokens per request (OpenTelemetry gen_ai.client.token.usage), "
                                 "by token type and model")
                             .Register(r);
  tokens_family_ = &BuildCounter()
                        .Name("triage_tokens_total")
                        .Help("Tokens processed, by model and direction (input|output)")
                        .Register(r);
  operation_duration_family_ = &BuildHistogram()
                                    .Name("gen_ai_client_operation_duration_seconds")
                                    .Help(
                                        "Upstream model time per request in seconds (OpenTelemetry "
                                        "gen_ai.client.operation.duration)")
                                    .Register(r);
  request_duration_family_ = &BuildHistogram()
                                  .Name("triage_request_duration_seconds")
                                  .Help("End-to-end request time in seconds, by route and model")
                                  .Register(r);
  latency_part_family_ = &BuildHistogram()
                              .Name("triage_latency_part_seconds")
                              .Help(
                                  "Request time split into parts "
                                  "(routing|queue|upstream_ttfb|upstream|overhead), seconds")
                              .Register(r);
  cost_family_ = &BuildCounter()
                      .Name("triage_cost_usd_total")
                      .Help("Upstream cost in USD, by route, served model and tier")
                      .Register(r);
  ttft_family_ = &BuildHistogram()
                      .Name("triage_time_to_first_token_seconds")
                      .Help(
                          "Streamed requests: upstream time to first byte of the first model "
                          "call, seconds, by served model")
                      .Register(r);
  first_chunk_family_ =
      &BuildHistogram()
           .Name("gen_ai_client_operation_time_to_first_chunk_seconds")
           .Help(
               "Streamed requests: time to the first chunk of the upstream stream, seconds "
               "(OpenTelemetry gen_ai.client.operation.time_to_first_chunk)")
           .Register(r);
  category_requests_family_ = &BuildCounter()
                                   .Name("triage_category_requests_total")
                                   .Help(
                                       "Requests by client category (capped), route, tier "
                                       "and outcome (ok|client_error|cancelled|error)")
                                   .Register(r);
  category_cost_family_ = &BuildCounter()
                               .Name("triage_category_cost_usd_total")
                               .Help(
                                   "Upstream cost in USD by client category (capped), route "
                                   "and tier")
                               .Register(r);
  cohort_requests_family_ = &BuildCounter()
                                 .Name("triage_cohort_requests_total")
                                 .Help("Requests by client cohort (capped) and outcome")
                                 .Register(r);
  key_requests_family_ = &BuildCounter()
                              .Name("triage_key_requests_total")
                              .Help("Requests by client API key name (capped; 'other' past the "
                                    "cap; empty without a key) and outcome")
                              .Register(r);
  key_cost_family_ = &BuildCounter()
                          .Name("triage_key_cost_usd_total")
                          .Help("Upstream cost in USD by client API key name (capped)")
                          .Register(r);
  cohort_cost_family_ = &BuildCounter()
                             .Name("triage_cohort_cost_usd_total")
                             .Help("Upstream cost in USD by client cohort (capped)")
                             .Register(r);
  model_calls_family_ = &BuildCounter()
                             .Name("triage_model_calls_total")
                             .Help(
                                 "Model calls (every attempt, cascade steps included), by "
                                 "model, tier and outcome (ok or the error code)")
                             .Register(r);
  model_call_cost_family_ = &BuildCounter()
                                 .Name("triage_model_call_cost_usd_total")
                                 .Help(
                                     "Upstream cost in USD of every model call, attributed "
                                     "to the model called")
                                 .Register(r);
  model_call_tokens_family_ = &BuildCounter()
                                   .Name("triage_model_call_tokens_total")
                                   .Help(
                                       "Tokens of every model call, attributed to the model "
                                       "called, by direction (input|output)")
                                   .Register(r);
  retries_family_ = &BuildCounter()
                        .Name("triage_upstream_retries_total")
                        .Help("Retries of upstream calls, by model and the failure retried "
                              "(connect, reset, http_429, http_503...)")
                        .Register(r);
  shed_family_ = &BuildCounter()
                     .Name("triage_load_shed_total")
                     .Help("Model calls shed at a full concurrency gate, by model and outcome "
                           "(overflow: sent to the model's overflow alternative; rejected: 503)")
                     .Register(r);
  circuit_state_family_ = &BuildGauge()
                               .Name("triage_circuit_state")
                               .Help("Circuit breaker state per model deployment: 0 closed, 1 "
                                     "open, 2 half_open")
                               .Register(r);
  circuit_transitions_family_ = &BuildCounter()
                                     .Name("triage_circuit_transitions_total")
                                     .Help("Circuit breaker transitions per model deployment, by "
                                           "the state moved to")
                                     .Register(r);
  escalations_family_ = &BuildCounter()
                             .Name("triage_escalations_total")
                             .Help(
                                 "Requests escalated to a stronger model, by route and kind "
                                 "(cascaded: a cascade moved past its first step; escalated: "
                                 "a classifier moved up one tier)")
                             .Register(r);
  check_verdicts_family_ = &BuildCounter()
                                .Name("triage_check_verdicts_total")
                                .Help("Quality check verdicts, by check and verdict (pass|fail)")
                                .Register(r);
  review_flags_family_ = &BuildCounter()
                              .Name("triage_review_flags_total")
                              .Help(
                                  "Trace flags raised (why a request may need review), by "
                                  "flag (capped)")
                              .Register(r);
  auto& inflight_family = BuildGauge()
                              .Name("triage_inflight_requests")
                              .Help("Requests accepted and not yet answered")
                              .Register(r);
  inflight_ = &inflight_family.Add({});
  cache_family_ = &BuildCounter()
                       .Name("triage_cache_requests_total")
                       .Help("Requests to a route or model with a response cache, by name and "
                             "outcome (hit, miss, bypass; docs/cache.md)")
                       .Register(r);
  shed_at_capacity_ = &BuildCounter()
                           .Name("triage_requests_shed_total")
                           .Help("Requests answered 503 at once, without being worked on, by "
                                 "reason (server_capacity: server.max_requests_per_thread)")
                           .Register(r)
                           .Add({{"reason", "server_capacity"}});
  config_version_ = &BuildGauge()
                         .Name("triage_config_version")
                         .Help("Sequence number of the config version serving new requests "
                               "(docs/config_versions.md); 0 before the first")
                         .Register(r)
                         .Add({});
  auto& reloads = BuildCounter()
                      .Name("triage_config_reloads_total")
                      .Help("Config reload attempts (SIGHUP, POST /admin/config, rollback) by "
                            "result: applied, or refused (invalid, or a restart-only change)")
                      .Register(r);
  reloads_applied_ = &reloads.Add({{"result", "applied"}});
  reloads_refused_ = &reloads.Add({{"result", "refused"}});
  knob_moves_family_ = &BuildCounter()
                            .Name("triage_knob_moves_total")
                            .Help("Knobs moved at run time (PUT /admin/knobs, the SLO "
                                  "controller, rollouts), by route and knob")
                            .Register(r);
  leader_family_ = &BuildGauge()
                        .Name("triage_leader")
                        .Help("1 while this replica holds the lease that runs the SLO "
                              "controller and rollouts (docs/scaling.md \"One controller\")")
                        .Register(r);
  leader_changes_ = &BuildCounter()
                         .Name("triage_leader_changes_total")
                         .Help("Times this replica took or lost the controller lease")
                         .Register(r)
                         .Add({});
  slo_success_family_ = &BuildGauge()
                             .Name("triage_slo_success_ratio")
                             .Help("Success rate of an SLO's scope over its window (router "
                                   "SLOs: agreement with labels; docs/slo.md)")
                             .Register(r);
  slo_burn_family_ = &BuildGauge()
                          .Name("triage_slo_burn_rate")
                          .Help("An SLO's error budget burn rate over its window: (1 - "
                                "success) / (1 - target); above 1 spends faster than allowed")
                          .Register(r);
  slo_budget_family_ = &BuildGauge()
                            .Name("triage_slo_budget_remaining")
                            .Help("Share of an SLO's error budget left over its window: 1 - "
                                  "burn rate (negative: overspent)")
                            .Register(r);
  fleet_publish_errors_ = &BuildCounter()
                               .Name("triage_fleet_publish_errors_total")
                               .Help("Publishes of this replica's window counts to the shared "
                                     "store that failed (docs/scaling.md \"Fleet numbers\")")
                               .Register(r)
                               .Add({});
  fleet_replicas_ = &BuildGauge()
                         .Name("triage_fleet_replicas")
                         .Help("Replicas whose window counts the last fleet read found, this "
                               "one included (docs/scaling.md \"Fleet numbers\")")
                         .Register(r)
                         .Add({});

  const std::map<std::string, std::string> window{{"window", options_.window_label}};
  window_requests_ = &BuildGauge()
                          .Name("triage_window_requests")
                          .Help("Requests finished in the sliding window")
                          .Register(r)
                          .Add(window);
  window_cost_ = &BuildGauge()
                      .Name("triage_window_cost_usd")
                      .Help("Upstream cost in USD of the requests finished in the sliding window")
                      .Register(r)
                      .Add(window);
  cpi_ = &BuildGauge()
              .Name("triage_cpi_usd")
              .Help("Cost per request in USD over the sliding window (0 without requests)")
              .Register(r)
              .Add(window);
  counterfactual_ = &BuildGauge()
                         .Name("triage_counterfactual_cost_usd")
                         .Help(
                             "What the window's requests would have cost with the same tokens "
                             "on the reference model, USD")
                         .Register(r)
                         .Add(window);
  savings_ = &BuildGauge()
                  .Name("triage_savings_usd")
                  .Help("Counterfactual cost minus actual cost over the sliding window, USD")
                  .Register(r)
                  .Add(window);
  savings_ratio_ = &BuildGauge()
                        .Name("triage_savings_ratio")
                        .Help(
                            "Savings / counterfactual cost over the sliding window (0..1; "
                            "negative when routing cost more)")
                        .Register(r)
                        .Add(window);

  static constexpr std::array<const char*, kPartCount> kPartNames = {
      "routing", "queue", "upstream_ttfb", "upstream", "overhead"};
  for (int p = 0; p < kPartCount; ++p) {
    parts_[p] = &latency_part_family_->Add({{"part", kPartNames[p]}}, latency_buckets_s());
  }
}

const Metrics::Series& Metrics::series_for(const core::Trace& t) {
  const std::string sc = status_class(t.http_status);
  return cached(series_, join_key({t.route, t.model, t.tier, sc, t.error_code}), [&] {
    Series s;
    s.requests = &requests_family_->Add(
        {{"route", t.route}, {"model", t.model}, {"tier", t.tier}, {"status_class", sc}});
    if (!t.error_code.empty()) {
      s.errors = &errors_family_->Add({{"model", t.model}, {"code", t.error_code}});
    }
    s.request_duration = &request_duration_family_->Add({{"route", t.route}, {"model", t.model}},
                                                        latency_buckets_s());
    if (!t.model.empty()) {
      s.token_usage_input = &token_usage_family_->Add(
          {{"gen_ai_token_type", "input"}, {"gen_ai_request_model", t.model}}, token_buckets());
      s.token_usage_output = &token_usage_family_->Add(
          {{"gen_ai_token_type", "output"}, {"gen_ai_request_model", t.model}}, token_buckets());
      s.tokens_input = &tokens_family_->Add({{"model", t.model}, {"direction", "input"}});
      s.tokens_output = &tokens_family_->Add({{"model", t.model}, {"direction", "output"}});
      s.operation_duration = &operation_duration_family_->Add({{"gen_ai_request_model", t.model}},
                                                              latency_buckets_s());
      s.cost = &cost_family_->Add({{"route", t.route}, {"model", t.model}, {"tier", t.tier}});
      s.ttft = &ttft_family_->Add({{"model", t.model}}, latency_buckets_s());
      s.time_to_first_chunk =
          &first_chunk_family_->Add({{"gen_ai_request_model", t.model}}, latency_buckets_s());
    }
    return s;
  });
}

void Metrics::consume(const core::TracePtr& trace) {
  if (trace) record(*trace);
}

double Metrics::counterfactual_usd(const core::Trace& t) const {
  // A cache hit made no call but stands for one: its tokens at the reference price are what it
  // saved (docs/cache.md).
  const bool hit = t.cache == core::CacheOutcome::kHit;
  if (!options_.reference_prices || !(hit || model_called(t))) return 0.0;
  return counterfactual_cost_usd(*options_.reference_prices, t.tokens_in, t.tokens_out);
}

void Metrics::record(const core::Trace& t) {
  const Series& s = series_for(t);
  s.requests->Increment();
  if (s.errors != nullptr) s.errors->Increment();
  s.request_duration->Observe(static_cast<double>(t.total_us) / kUsPerSecond);

  const bool called = model_called(t);
  if (s.cost != nullptr) {
    if (t.tokens_in > 0) s.tokens_input->Increment(static_cast<double>(t.tokens_in));
    if (t.tokens_out > 0) s.tokens_output->Increment(static_cast<double>(t.tokens_out));
    if (t.cost_usd > 0) s.cost->Increment(t.cost_usd);
    if (called) {
      s.token_usage_input->Observe(static_cast<double>(t.tokens_in));
      s.token_usage_output->Observe(static_cast<double>(t.tokens_out));
      s.operation_duration->Observe(static_cast<double>(t.upstream_us) / kUsPerSecond);
      if (t.stream && t.upstream_ttfb_us > 0) {
        const double ttfb_s = static_cast<double>(t.upstream_ttfb_us) / kUsPerSecond;
        s.ttft->Observe(ttfb_s);
        s.time_to_first_chunk->Observe(ttfb_s);
      }
    }
  }

  parts_[kRouting]->Observe(static_cast<double>(t.routing_us) / kUsPerSecond);
  parts_[kQueue]->Observe(static_cast<double>(t.queue_us) / kUsPerSecond);
  parts_[kOverhead]->Observe(static_cast<double>(t.overhead_us) / kUsPerSecond);
  if (called) {
    parts_[kUpstreamTtfb]->Observe(static_cast<double>(t.upstream_ttfb_us) / kUsPerSecond);
    parts_[kUpstream]->Observe(static_cast<double>(t.upstream_us) / kUsPerSecond);
  }

  if (t.cache != core::CacheOutcome::kNone) {  // only names with `cache:`: bounded labels
    cache_family_
        ->Add({{"name", t.requested_model}, {"outcome", std::string(core::cache_outcome_name(t.cache))}})
        .Increment();
  }

  const std::string_view outcome = outcome_of(t);
  const std::string_view category = categories_.map(t.category);
  const CategorySeries& cat =
      cached(category_series_, join_key({category, t.route, t.tier, outcome}), [&] {
        CategorySeries c;
        const std::string cat_s(category);
        c.requests = &category_requests_family_->Add({{"category", cat_s},
                                                      {"route", t.route},
                                                      {"tier", t.tier},
                                                      {"outcome", std::string(outcome)}});
        c.cost = &category_cost_family_->Add(
            {{"category", cat_s}, {"route", t.route}, {"tier", t.tier}});
        return c;
      });
  cat.requests->Increment();
  if (t.cost_usd > 0) cat.cost->Increment(t.cost_usd);

  const std::string_view cohort = cohorts_.map(t.cohort);
  const CohortSeries& coh = cached(cohort_series_, join_key({cohort, outcome}), [&] {
    CohortSeries c;
    c.requests = &cohort_requests_family_->Add(
        {{"cohort", std::string(cohort)}, {"outcome", std::string(outcome)}});
    c.cost = &cohort_cost_family_->Add({{"cohort", std::string(cohort)}});
    return c;
  });
  coh.requests->Increment();
  if (t.cost_usd > 0) coh.cost->Increment(t.cost_usd);

  const std::string_view key = keys_.map(t.api_key_name.empty() ? t.api_key_id : t.api_key_name);
  const CohortSeries& ks = cached(key_series_, join_key({key, outcome}), [&] {
    CohortSeries c;
    c.requests = &key_requests_family_->Add(
        {{"key", std::string(key)}, {"outcome", std::string(outcome)}});
    c.cost = &key_cost_family_->Add({{"key", std::string(key)}});
    return c;
  });
  ks.requests->Increment();
  if (t.cost_usd > 0) ks.cost->Increment(t.cost_usd);

  record_spans(t);
  record_flags(t);
  window_.add(clock_->now_ms(), t.cost_usd, counterfactual_usd(t));
}

void Metrics::record_spans(const core::Trace& t) {
  for (const core::Span& span : t.spans) {
    if (span.kind == core::SpanKind::kModelCall) {
      const std::string outcome = span.ok              ? std::string("ok")
                                  : span.error.empty() ? std::string("error")
                                                       : span.error;
      const CallSeries& c = cached(call_series_, join_key({span.name, span.tier, outcome}), [&] {
        CallSeries cs;
        cs.calls = &model_calls_family_->Add(
            {{"model", span.name}, {"tier", span.tier}, {"outcome", outcome}});
        cs.cost = &model_call_cost_family_->Add({{"model", span.name}, {"tier", span.tier}});
        cs.tokens_input = &model_call_tokens_family_->Add(
            {{"model", span.name}, {"tier", span.tier}, {"direction", "input"}});
        cs.tokens_output = &model_call_tokens_family_->Add(
            {{"model", span.name}, {"tier", span.tier}, {"direction", "output"}});
        return cs;
      });
      c.calls->Increment();
      for (const std::string& reason : span.retries) {
        prometheus::Counter* rc = cached(retry_series_, join_key({span.name, reason}), [&] {
          return &retries_family_->Add({{"model", span.name}, {"reason", reason}});
        });
        rc->Increment();
      }
      if (!span.shed.empty()) {
        prometheus::Counter* sc = cached(shed_series_, join_key({span.name, span.shed}), [&] {
          return &shed_family_->Add({{"model", span.name}, {"outcome", span.shed}});
        });
        sc->Increment();
      }
      if (span.cost_usd > 0) c.cost->Increment(span.cost_usd);
      if (span.tokens_in > 0) c.tokens_input->Increment(static_cast<double>(span.tokens_in));
      if (span.tokens_out > 0) c.tokens_output->Increment(static_cast<double>(span.tokens_out));
    } else if (span.kind == core::SpanKind::kCheck) {
      const std::string_view verdict = span.ok ? "pass" : "fail";
      prometheus::Counter* c = cached(check_series_, join_key({span.name, verdict}), [&] {
        return &check_verdicts_family_->Add(
            {{"check", span.name}, {"verdict", std::string(verdict)}});
      });
      c->Increment();
    }
  }
}

void Metrics::record_breaker(std::string_view model, std::string_view deployment,
                             std::string_view state, bool transition) {
  const double value = state == "open" ? 1 : state == "half_open" ? 2 : 0;
  const std::map<std::string, std::string> labels{{"model", std::string(model)},
                                                  {"deployment", std::string(deployment)}};
  circuit_state_family_->Add(labels).Set(value);  // Add returns the existing series
  if (!transition) return;
  auto with_to = labels;
  with_to.emplace("to", std::string(state));
  circuit_transitions_family_->Add(with_to).Increment();
}

void Metrics::record_flags(const core::Trace& t) {
  if (t.flags.empty()) return;
  for (const core::ReviewFlag escalation :
       {core::ReviewFlag::kCascaded, core::ReviewFlag::kEscalated}) {
    if (!core::has_flag(t.flags, escalation)) continue;
    const std::string_view kind = core::flag_name(escalation);
    prometheus::Counter* c = cached(escalation_series_, join_key({t.route, kind}), [&] {
      return &escalations_family_->Add({{"route", t.route}, {"kind", std::string(kind)}});
    });
    c->Increment();
  }
  for (const core::ReviewFlag f : t.flags) {
    const std::string_view flag = core::flag_name(f);
    prometheus::Counter* c = cached(flag_series_, std::string(flag), [&] {
      return &review_flags_family_->Add({{"flag", std::string(flag)}});
    });
    c->Increment();
  }
}

CostWindow::Totals Metrics::window_totals() const { return window_.totals(clock_->now_ms()); }

std::string Metrics::render() const {
  const CostWindow::Totals w = window_totals();
  window_requests_->Set(static_cast<double>(w.requests));
  window_cost_->Set(w.cost_usd);
  cpi_->Set(w.requests > 0 ? w.cost_usd / static_cast<double>(w.requests) : 0.0);
  counterfactual_->Set(w.counterfactual_usd);
  savings_->Set(w.counterfactual_usd - w.cost_usd);
  savings_ratio_->Set(
      w.counterfactual_usd > 0 ? (w.counterfactual_usd - w.cost_usd) / w.counterfactual_usd : 0.0);

  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  if (const RequestStore* store = store_.load(std::memory_order_acquire)) {
    families.push_back(counter_family("triage_store_written_total",
                                      "Request rows committed to the request store",
                                      static_cast<double>(store->written())));
    families.push_back(
        counter_family("triage_store_dropped_total",
                       "Traces the request store lost (queue full, closed, write error)",
                       static_cast<double>(store->dropped())));
    families.push_back(gauge_family("triage_store_queued",
                                    "Traces accepted by the request store, not yet committed",
                                    static_cast<double>(store->queued())));
    families.push_back(gauge_family(
        "triage_store_database_up",
        "1 when the request store's database answered the writer's last attempt (PostgreSQL); "
        "0 while it reconnects",
        store->database_up() ? 1.0 : 0.0));
    families.push_back(counter_family("triage_store_reconnects_total",
                                      "Times the request store's writer lost its database and "
                                      "got it back",
                                      static_cast<double>(store->reconnects())));
  }
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::set_slo(const std::string& slo, double success_ratio, double burn_rate,
                      double budget_remaining) {
  const std::map<std::string, std::string> labels{{"slo", slo}};
  slo_success_family_->Add(labels).Set(success_ratio);
  slo_burn_family_->Add(labels).Set(burn_rate);
  slo_budget_family_->Add(labels).Set(budget_remaining);
}

}  // namespace triage::telemetry

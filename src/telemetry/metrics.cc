#include "telemetry/metrics.h"

#include <prometheus/text_serializer.h>

#include <mutex>

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

}  // namespace

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

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
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
  auto& inflight_family = BuildGauge()
                              .Name("triage_inflight_requests")
                              .Help("Requests accepted and not yet answered")
                              .Register(r);
  inflight_ = &inflight_family.Add({});

  static constexpr std::array<const char*, kPartCount> kPartNames = {
      "routing", "queue", "upstream_ttfb", "upstream", "overhead"};
  for (int p = 0; p < kPartCount; ++p) {
    parts_[p] = &latency_part_family_->Add({{"part", kPartNames[p]}}, latency_buckets_s());
  }
}

const Metrics::Series& Metrics::series_for(const core::Trace& t) {
  const std::string sc = status_class(t.http_status);
  std::string key;
  key.reserve(t.route.size() + t.model.size() + t.tier.size() + sc.size() + t.error_code.size() +
              4);
  key.append(t.route).append(1, '\x1f').append(t.model).append(1, '\x1f').append(t.tier);
  key.append(1, '\x1f').append(sc).append(1, '\x1f').append(t.error_code);
  {
    std::shared_lock lk(series_mu_);
    auto it = series_.find(key);
    if (it != series_.end()) return it->second;
  }
  // First trace of this combination: Family::Add returns the existing metric when another
  // key shares some of its labels, so concurrent creation converges on the same objects.
  Series s;
  s.requests = &requests_family_->Add(
      {{"route", t.route}, {"model", t.model}, {"tier", t.tier}, {"status_class", sc}});
  if (!t.error_code.empty()) {
    s.errors = &errors_family_->Add({{"model", t.model}, {"code", t.error_code}});
  }
  s.request_duration =
      &request_duration_family_->Add({{"route", t.route}, {"model", t.model}}, latency_buckets_s());
  if (!t.model.empty()) {
    s.token_usage_input = &token_usage_family_->Add(
        {{"gen_ai_token_type", "input"}, {"gen_ai_request_model", t.model}}, token_buckets());
    s.token_usage_output = &token_usage_family_->Add(
        {{"gen_ai_token_type", "output"}, {"gen_ai_request_model", t.model}}, token_buckets());
    s.tokens_input = &tokens_family_->Add({{"model", t.model}, {"direction", "input"}});
    s.tokens_output = &tokens_family_->Add({{"model", t.model}, {"direction", "output"}});
    s.operation_duration =
        &operation_duration_family_->Add({{"gen_ai_request_model", t.model}}, latency_buckets_s());
    s.cost = &cost_family_->Add({{"route", t.route}, {"model", t.model}, {"tier", t.tier}});
  }
  std::unique_lock lk(series_mu_);
  return series_.try_emplace(std::move(key), s).first->second;
}

void Metrics::consume(const core::TracePtr& trace) {
  if (trace) record(*trace);
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
    }
  }

  parts_[kRouting]->Observe(static_cast<double>(t.routing_us) / kUsPerSecond);
  parts_[kQueue]->Observe(static_cast<double>(t.queue_us) / kUsPerSecond);
  parts_[kOverhead]->Observe(static_cast<double>(t.overhead_us) / kUsPerSecond);
  if (called) {
    parts_[kUpstreamTtfb]->Observe(static_cast<double>(t.upstream_ttfb_us) / kUsPerSecond);
    parts_[kUpstream]->Observe(static_cast<double>(t.upstream_us) / kUsPerSecond);
  }
}

std::string Metrics::render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  if (const RequestStore* store = store_.load(std::memory_order_acquire)) {
    families.push_back(counter_family("triage_store_written_total",
                                      "Request rows committed to the request store",
                                      static_cast<double>(store->written())));
    families.push_back(
        counter_family("triage_store_dropped_total",
                       "Traces the request store lost (queue full, closed, write error)",
                       static_cast<double>(store->dropped())));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace triage::telemetry

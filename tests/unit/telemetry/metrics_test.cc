#include "telemetry/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_traces.h"

namespace triage::telemetry {
namespace {

core::TracePtr ptr(core::Trace t) { return std::make_shared<const core::Trace>(std::move(t)); }

// "name{a="x",b="y"}" -> name and label map (test label values hold no ',', '"' or '}').
std::pair<std::string, std::map<std::string, std::string>> parse_series(const std::string& s) {
  const size_t brace = s.find('{');
  std::pair<std::string, std::map<std::string, std::string>> out{s.substr(0, brace), {}};
  if (brace == std::string::npos) return out;
  std::string body = s.substr(brace + 1, s.rfind('}') - brace - 1);
  std::istringstream in(body);
  std::string kv;
  while (std::getline(in, kv, ',')) {
    const size_t eq = kv.find('=');
    out.second[kv.substr(0, eq)] = kv.substr(eq + 2, kv.size() - eq - 3);
  }
  return out;
}

// The value of one series in exposition text, labels in any order; NaN when absent.
double value_of(const std::string& text, const std::string& series) {
  const auto want = parse_series(series);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (parse_series(line.substr(0, space)) == want) {
      return std::strtod(line.c_str() + space + 1, nullptr);
    }
  }
  return std::nan("");
}

core::Trace ok_trace(const std::string& route, const std::string& model, const std::string& tier,
                     int64_t tokens_in, int64_t tokens_out, double cost, int64_t total_us) {
  core::Trace t;
  t.request_id = "r";
  t.route = route;
  t.model = model;
  t.tier = tier;
  t.tokens_in = tokens_in;
  t.tokens_out = tokens_out;
  t.cost_usd = cost;
  t.routing_us = 100;
  t.queue_us = 0;
  t.upstream_ttfb_us = total_us / 4;
  t.upstream_us = total_us / 2;
  t.overhead_us = total_us - t.upstream_us - t.routing_us;
  t.total_us = total_us;
  core::Span call;
  call.kind = core::SpanKind::kModelCall;
  call.name = model;
  t.spans.push_back(call);
  return t;
}

class FakeStore final : public RequestStore {
 public:
  void consume(const core::TracePtr&) override {}
  void close() override {}
  int64_t dropped() const override { return 7; }
  int64_t written() const override { return 1234; }
  int64_t queued() const override { return 0; }
  std::string name() const override { return "fake/1"; }
};

TEST(Metrics, CountersAfterKnownTraces) {
  Metrics m;
  m.consume(ptr(ok_trace("auto", "small", "small", 100, 10, 0.25, 40000)));   // 40 ms
  m.consume(ptr(ok_trace("auto", "small", "small", 300, 30, 0.5, 2000000)));  // 2 s
  m.consume(ptr(ok_trace("auto", "large", "large", 1000, 500, 2.0, 8000000)));
  core::Trace err = ok_trace("auto", "large", "large", 0, 0, 0.0, 60000000);  // 60 s
  err.http_status = 504;
  err.error_code = "upstream_timeout";
  m.consume(ptr(err));
  core::Trace bad;  // rejected before routing: no model, no model call
  bad.http_status = 400;
  bad.error_code = "invalid_request";
  bad.total_us = 500;
  bad.overhead_us = 500;
  m.consume(ptr(bad));

  const std::string text = m.render();
  SCOPED_TRACE(text);
  EXPECT_EQ(
      value_of(
          text,
          R"(triage_requests_total{route="auto",model="small",tier="small",status_class="2xx"})"),
      2);
  EXPECT_EQ(
      value_of(
          text,
          R"(triage_requests_total{route="auto",model="large",tier="large",status_class="2xx"})"),
      1);
  EXPECT_EQ(
      value_of(
          text,
          R"(triage_requests_total{route="auto",model="large",tier="large",status_class="5xx"})"),
      1);
  EXPECT_EQ(
      value_of(text, R"(triage_requests_total{route="",model="",tier="",status_class="4xx"})"), 1);
  EXPECT_EQ(value_of(text, R"(triage_errors_total{model="large",code="upstream_timeout"})"), 1);
  EXPECT_EQ(value_of(text, R"(triage_errors_total{model="",code="invalid_request"})"), 1);
  EXPECT_EQ(value_of(text, R"(triage_tokens_total{model="small",direction="input"})"), 400);
  EXPECT_EQ(value_of(text, R"(triage_tokens_total{model="small",direction="output"})"), 40);
  EXPECT_EQ(value_of(text, R"(triage_tokens_total{model="large",direction="output"})"), 500);
  EXPECT_EQ(value_of(text, R"(triage_cost_usd_total{route="auto",model="small",tier="small"})"),
            0.75);
  EXPECT_EQ(value_of(text, R"(triage_cost_usd_total{route="auto",model="large",tier="large"})"),
            2.0);
  // Nothing model-level for a request that never reached a model.
  EXPECT_EQ(text.find(R"(gen_ai_request_model="")"), std::string::npos);
  EXPECT_EQ(text.find(R"(triage_tokens_total{model="")"), std::string::npos);

  // Histograms: counts, sums and a cumulative bucket.
  EXPECT_EQ(
      value_of(
          text,
          R"(gen_ai_client_token_usage_count{gen_ai_token_type="input",gen_ai_request_model="small"})"),
      2);
  EXPECT_EQ(
      value_of(
          text,
          R"(gen_ai_client_token_usage_sum{gen_ai_token_type="input",gen_ai_request_model="small"})"),
      400);
  EXPECT_EQ(
      value_of(
          text,
          R"(gen_ai_client_token_usage_bucket{gen_ai_token_type="input",gen_ai_request_model="small",le="256"})"),
      1);
  EXPECT_EQ(
      value_of(
          text,
          R"(gen_ai_client_token_usage_count{gen_ai_token_type="output",gen_ai_request_model="large"})"),
      2);
  EXPECT_EQ(value_of(text, R"(triage_request_duration_seconds_count{route="auto",model="small"})"),
            2);
  EXPECT_EQ(
      value_of(text,
               R"(triage_request_duration_seconds_bucket{route="auto",model="small",le="0.05"})"),
      1);
  EXPECT_EQ(
      value_of(text,
               R"(triage_request_duration_seconds_bucket{route="auto",model="small",le="2.5"})"),
      2);
  EXPECT_EQ(
      value_of(text,
               R"(triage_request_duration_seconds_bucket{route="auto",model="large",le="30"})"),
      1);
  EXPECT_EQ(
      value_of(text,
               R"(triage_request_duration_seconds_bucket{route="auto",model="large",le="120"})"),
      2);
  EXPECT_EQ(value_of(text, R"(triage_request_duration_seconds_count{route="",model=""})"), 1);
  EXPECT_EQ(
      value_of(text,
               R"(gen_ai_client_operation_duration_seconds_count{gen_ai_request_model="large"})"),
      2);
  EXPECT_EQ(
      value_of(text,
               R"(gen_ai_client_operation_duration_seconds_sum{gen_ai_request_model="small"})"),
      1.02);
  // routing/queue/overhead for every request; upstream parts only when a model was called.
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_count{part="routing"})"), 5);
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_count{part="overhead"})"), 5);
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_count{part="upstream"})"), 4);
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_count{part="upstream_ttfb"})"), 4);
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_bucket{part="routing",le="0.001"})"), 5);
  // overhead: 0.5 ms, 19.9 ms, 0.9999 s, 3.9999 s, 29.9999 s
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_bucket{part="overhead",le="0.025"})"), 2);
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_bucket{part="overhead",le="1"})"), 3);
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_bucket{part="overhead",le="30"})"), 5);
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_sum{part="queue"})"), 0);
  EXPECT_EQ(value_of(text, "triage_inflight_requests"), 0);
  // No store registered: no store series.
  EXPECT_EQ(text.find("triage_store_"), std::string::npos);
}

TEST(Metrics, ExpositionFormatHasTypesAndHelp) {
  Metrics m;
  m.consume(ptr(ok_trace("r", "m", "t", 1, 1, 0.1, 1000)));
  const std::string text = m.render();
  EXPECT_NE(text.find("# TYPE triage_requests_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE gen_ai_client_token_usage histogram"), std::string::npos);
  EXPECT_NE(text.find("# TYPE triage_inflight_requests gauge"), std::string::npos);
  EXPECT_NE(text.find("# HELP triage_cost_usd_total "), std::string::npos);
}

TEST(Metrics, StoreCountersAreReadAtRenderTime) {
  Metrics m;
  FakeStore store;
  m.set_store(&store);
  const std::string text = m.render();
  EXPECT_EQ(value_of(text, "triage_store_dropped_total"), 7) << text;
  EXPECT_EQ(value_of(text, "triage_store_written_total"), 1234) << text;
  EXPECT_NE(text.find("# TYPE triage_store_dropped_total counter"), std::string::npos);
  m.set_store(nullptr);
  EXPECT_EQ(m.render().find("triage_store_"), std::string::npos);
}

TEST(Metrics, InflightGauge) {
  Metrics m;
  m.inflight_inc();
  m.inflight_inc();
  m.inflight_inc();
  m.inflight_dec();
  EXPECT_EQ(value_of(m.render(), "triage_inflight_requests"), 2);
}

TEST(Metrics, FourThreadsGiveExactTotals) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Two models, several label sets created concurrently on first use.
        core::Trace tr = testing::full_trace(t * kPerThread + i);
        tr.http_status = 200;
        tr.error_code.clear();
        tr.tokens_in = 3;
        tr.tokens_out = 2;
        tr.cost_usd = 0.25;  // exactly representable: sums are exact
        m.consume(ptr(std::move(tr)));
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.render();
  constexpr double kHalf = kThreads * kPerThread / 2;
  EXPECT_EQ(
      value_of(
          text,
          R"(triage_requests_total{route="auto",model="small",tier="small",status_class="2xx"})"),
      kHalf);
  EXPECT_EQ(
      value_of(
          text,
          R"(triage_requests_total{route="auto",model="large",tier="large",status_class="2xx"})"),
      kHalf);
  EXPECT_EQ(value_of(text, R"(triage_tokens_total{model="small",direction="input"})"), 3 * kHalf);
  EXPECT_EQ(value_of(text, R"(triage_tokens_total{model="large",direction="output"})"), 2 * kHalf);
  EXPECT_EQ(value_of(text, R"(triage_cost_usd_total{route="auto",model="large",tier="large"})"),
            0.25 * kHalf);
  EXPECT_EQ(value_of(text, R"(triage_latency_part_seconds_count{part="routing"})"), 2 * kHalf);
  EXPECT_EQ(
      value_of(
          text,
          R"(gen_ai_client_token_usage_count{gen_ai_token_type="input",gen_ai_request_model="small"})"),
      kHalf);
}

}  // namespace
}  // namespace triage::telemetry

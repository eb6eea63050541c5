#include "telemetry/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>
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

core::Span model_call(const std::string& model, const std::string& tier, double cost, int64_t in,
                      int64_t out, bool ok = true, const std::string& error = "") {
  core::Span s;
  s.kind = core::SpanKind::kModelCall;
  s.name = model;
  s.tier = tier;
  s.detail = "replay/1";
  s.cost_usd = cost;
  s.tokens_in = in;
  s.tokens_out = out;
  s.ok = ok;
  s.error = error;
  return s;
}

core::Span check(const std::string& name, bool pass) {
  core::Span s;
  s.kind = core::SpanKind::kCheck;
  s.name = name;
  s.detail = pass ? "ok" : "too short";
  s.ok = pass;
  if (!pass) s.error = "check_failed";
  return s;
}

TEST(Metrics, CategoryCohortCallsChecksEscalationsFlagsAndTtft) {
  Metrics m;
  // A: streamed, answered by small, check passes.
  core::Trace a = ok_trace("auto", "small", "small", 100, 10, 0.25, 1000000);
  a.category = "coding";
  a.cohort = "beta";
  a.stream = true;
  a.upstream_ttfb_us = 250000;
  a.spans = {model_call("small", "small", 0.25, 100, 10), check("len", true)};
  // B: cascade small -> large (small's answer failed the check), not streamed.
  core::Trace b = ok_trace("auto", "large", "large", 300, 60, 0.75, 2000000);
  b.category = "coding";
  b.flags = {core::ReviewFlag::kCascaded};
  b.spans = {model_call("small", "small", 0.25, 100, 20), check("len", false),
             model_call("large", "large", 0.5, 200, 40), check("len", true)};
  // C: classifier escalated to large, which failed.
  core::Trace c = ok_trace("auto", "large", "large", 0, 0, 0.0, 3000000);
  c.category = "math";
  c.cohort = "beta";
  c.http_status = 502;
  c.error_code = "upstream_error";
  c.flags = {core::ReviewFlag::kEscalated};
  c.spans = {model_call("large", "large", 0.0, 0, 0, false, "upstream_error")};
  // D: rejected before routing; E: the client went away.
  core::Trace d;
  d.http_status = 400;
  d.error_code = "invalid_request";
  core::Trace e = ok_trace("auto", "small", "small", 50, 0, 0.125, 1000);
  e.http_status = 499;
  e.error_code = "cancelled";
  e.spans = {model_call("small", "small", 0.125, 50, 0, false, "cancelled")};
  for (core::Trace* t : {&a, &b, &c, &d, &e}) m.consume(ptr(*t));

  const std::string text = m.render();
  SCOPED_TRACE(text);
  auto v = [&](const std::string& series) { return value_of(text, series); };
  EXPECT_EQ(
      v(R"(triage_category_requests_total{category="coding",route="auto",tier="small",outcome="ok"})"),
      1);
  EXPECT_EQ(
      v(R"(triage_category_requests_total{category="coding",route="auto",tier="large",outcome="ok"})"),
      1);
  EXPECT_EQ(
      v(R"(triage_category_requests_total{category="math",route="auto",tier="large",outcome="error"})"),
      1);
  EXPECT_EQ(
      v(R"(triage_category_requests_total{category="",route="",tier="",outcome="client_error"})"),
      1);
  EXPECT_EQ(
      v(R"(triage_category_requests_total{category="",route="auto",tier="small",outcome="cancelled"})"),
      1);
  EXPECT_EQ(v(R"(triage_category_cost_usd_total{category="coding",route="auto",tier="large"})"),
            0.75);
  EXPECT_EQ(v(R"(triage_category_cost_usd_total{category="coding",route="auto",tier="small"})"),
            0.25);
  EXPECT_EQ(v(R"(triage_cohort_requests_total{cohort="beta",outcome="ok"})"), 1);
  EXPECT_EQ(v(R"(triage_cohort_requests_total{cohort="beta",outcome="error"})"), 1);
  EXPECT_EQ(v(R"(triage_cohort_requests_total{cohort="",outcome="ok"})"), 1);
  EXPECT_EQ(v(R"(triage_cohort_cost_usd_total{cohort="beta"})"), 0.25);
  EXPECT_EQ(v(R"(triage_cohort_cost_usd_total{cohort=""})"), 0.875);

  // Every model call, attributed to the model called (B's failed small attempt to small).
  EXPECT_EQ(v(R"(triage_model_calls_total{model="small",tier="small",outcome="ok"})"), 2);
  EXPECT_EQ(v(R"(triage_model_calls_total{model="small",tier="small",outcome="cancelled"})"), 1);
  EXPECT_EQ(v(R"(triage_model_calls_total{model="large",tier="large",outcome="ok"})"), 1);
  EXPECT_EQ(v(R"(triage_model_calls_total{model="large",tier="large",outcome="upstream_error"})"),
            1);
  EXPECT_EQ(v(R"(triage_model_call_cost_usd_total{model="small",tier="small"})"), 0.625);
  EXPECT_EQ(v(R"(triage_model_call_cost_usd_total{model="large",tier="large"})"), 0.5);
  EXPECT_EQ(v(R"(triage_model_call_tokens_total{model="small",tier="small",direction="input"})"),
            250);
  EXPECT_EQ(v(R"(triage_model_call_tokens_total{model="large",tier="large",direction="output"})"),
            40);
  // Answer-level attribution is unchanged: B's tokens all go to large.
  EXPECT_EQ(v(R"(triage_tokens_total{model="large",direction="input"})"), 300);

  EXPECT_EQ(v(R"(triage_check_verdicts_total{check="len",verdict="pass"})"), 2);
  EXPECT_EQ(v(R"(triage_check_verdicts_total{check="len",verdict="fail"})"), 1);
  EXPECT_EQ(v(R"(triage_escalations_total{route="auto",kind="cascaded"})"), 1);
  EXPECT_EQ(v(R"(triage_escalations_total{route="auto",kind="escalated"})"), 1);
  EXPECT_EQ(v(R"(triage_review_flags_total{flag="cascaded"})"), 1);
  EXPECT_EQ(v(R"(triage_review_flags_total{flag="escalated"})"), 1);

  // Time to first token: only the streamed request.
  EXPECT_EQ(v(R"(triage_time_to_first_token_seconds_count{model="small"})"), 1);
  EXPECT_EQ(v(R"(triage_time_to_first_token_seconds_sum{model="small"})"), 0.25);
  EXPECT_EQ(v(R"(triage_time_to_first_token_seconds_bucket{model="small",le="0.1"})"), 0);
  EXPECT_EQ(v(R"(triage_time_to_first_token_seconds_bucket{model="small",le="0.25"})"), 1);
  EXPECT_EQ(v(R"(triage_time_to_first_token_seconds_count{model="large"})"), 0);
  EXPECT_EQ(
      v(R"(gen_ai_client_operation_time_to_first_chunk_seconds_count{gen_ai_request_model="small"})"),
      1);
}

TEST(Metrics, ClientLabelsAreCappedAndSanitised) {
  MetricsOptions o;
  o.label_cap = 2;
  Metrics m(o);
  for (const char* cat : {"a", "b", "c", "d", "a"}) {
    core::Trace t;
    t.category = cat;
    t.cohort = cat;
    m.consume(ptr(t));
  }
  const std::string text = m.render();
  SCOPED_TRACE(text);
  EXPECT_EQ(
      value_of(text,
               R"(triage_category_requests_total{category="a",route="",tier="",outcome="ok"})"),
      2);
  EXPECT_EQ(
      value_of(text,
               R"(triage_category_requests_total{category="b",route="",tier="",outcome="ok"})"),
      1);
  EXPECT_EQ(
      value_of(text,
               R"(triage_category_requests_total{category="other",route="",tier="",outcome="ok"})"),
      2);
  EXPECT_EQ(value_of(text, R"(triage_cohort_requests_total{cohort="other",outcome="ok"})"), 2);
  EXPECT_EQ(text.find(R"(category="c")"), std::string::npos);

  LabelCap cap(1);
  EXPECT_EQ(cap.map(""), "");
  EXPECT_EQ(cap.map(std::string(100, 'z')), std::string(LabelCap::kMaxLength, 'z'));
  EXPECT_EQ(cap.map("second"), "other");
  EXPECT_EQ(cap.admitted(), 1u);
}

TEST(Metrics, CpiAndSavingsOverASlidingWindow) {
  auto clock = std::make_shared<ManualWallClock>(1000000000);
  MetricsOptions o;
  o.clock = clock;
  config::Prices ref;
  ref.input_per_mtok = 10;
  ref.output_per_mtok = 30;
  o.reference_prices = ref;
  Metrics m(o);
  const double cf = config::cost_usd(ref, 1000, 500);  // 0.025 per request below
  EXPECT_DOUBLE_EQ(cf, 0.025);

  auto render_value = [&](const std::string& series) { return value_of(m.render(), series); };
  EXPECT_EQ(render_value(R"(triage_cpi_usd{window="5m"})"), 0);
  EXPECT_EQ(render_value(R"(triage_savings_ratio{window="5m"})"), 0);

  m.consume(ptr(ok_trace("auto", "small", "small", 1000, 500, 0.005, 1000)));  // t0
  clock->advance_ms(200000);
  m.consume(ptr(ok_trace("auto", "big", "large", 1000, 500, 0.025, 1000)));  // t0 + 200 s
  core::Trace rejected;  // no model call: counts as a request, no counterfactual
  rejected.http_status = 400;
  rejected.error_code = "invalid_request";
  m.consume(ptr(rejected));

  CostWindow::Totals w = m.window_totals();
  EXPECT_EQ(w.requests, 3);
  EXPECT_DOUBLE_EQ(w.cost_usd, 0.03);
  EXPECT_DOUBLE_EQ(w.counterfactual_usd, 0.05);
  std::string text = m.render();
  EXPECT_NEAR(value_of(text, R"(triage_cpi_usd{window="5m"})"), 0.01, 1e-12) << text;
  EXPECT_NEAR(value_of(text, R"(triage_counterfactual_cost_usd{window="5m"})"), 0.05, 1e-12);
  EXPECT_NEAR(value_of(text, R"(triage_savings_usd{window="5m"})"), 0.02, 1e-12);
  EXPECT_NEAR(value_of(text, R"(triage_savings_ratio{window="5m"})"), 0.4, 1e-12);
  EXPECT_EQ(value_of(text, R"(triage_window_requests{window="5m"})"), 3);
  EXPECT_NEAR(value_of(text, R"(triage_window_cost_usd{window="5m"})"), 0.03, 1e-12);

  clock->advance_ms(99999);  // t0 + 299.999 s: the first request is still inside
  EXPECT_EQ(m.window_totals().requests, 3);
  clock->advance_ms(1);  // t0 + 300 s: it has left the window
  w = m.window_totals();
  EXPECT_EQ(w.requests, 2);
  EXPECT_DOUBLE_EQ(w.cost_usd, 0.025);
  text = m.render();
  EXPECT_NEAR(value_of(text, R"(triage_cpi_usd{window="5m"})"), 0.0125, 1e-12) << text;
  EXPECT_NEAR(value_of(text, R"(triage_savings_usd{window="5m"})"), 0.0, 1e-12);
  EXPECT_NEAR(value_of(text, R"(triage_savings_ratio{window="5m"})"), 0.0, 1e-12);

  // t0 + 500 s reuses the ring slot of t0 + 200 s: the old bucket must not leak in.
  clock->advance_ms(200000);
  m.consume(ptr(ok_trace("auto", "small", "small", 1000, 500, 0.005, 1000)));
  w = m.window_totals();
  EXPECT_EQ(w.requests, 1);
  EXPECT_DOUBLE_EQ(w.cost_usd, 0.005);
  EXPECT_DOUBLE_EQ(w.counterfactual_usd, 0.025);
  EXPECT_NEAR(value_of(m.render(), R"(triage_savings_ratio{window="5m"})"), 0.8, 1e-12);

  clock->advance_ms(300000);  // nothing left
  text = m.render();
  EXPECT_EQ(value_of(text, R"(triage_cpi_usd{window="5m"})"), 0) << text;
  EXPECT_EQ(value_of(text, R"(triage_window_requests{window="5m"})"), 0);
  EXPECT_EQ(value_of(text, R"(triage_counterfactual_cost_usd{window="5m"})"), 0);
}

TEST(Metrics, ReferencePricesComeFromTheConfig) {
  const config::Config cfg = config::parse_config(R"(
models:
  - {name: small, provider: replay, tier: small, prices: {input: 0.1, output: 0.4},
     replay: {dataset: d.csv, response_column: r}}
  - {name: big, provider: replay, tier: large, prices: {input: 5, output: 15, per_call: 0.001},
     replay: {dataset: d.csv, response_column: r}}
)",
                                                  "t.yaml");
  const MetricsOptions o = MetricsOptions::from_config(cfg);
  ASSERT_TRUE(o.reference_prices.has_value());
  EXPECT_EQ(o.reference_model, "big");
  Metrics m(o);
  core::Trace t = ok_trace("auto", "small", "small", 2000, 1000, 0.0006, 1000);
  EXPECT_DOUBLE_EQ(m.counterfactual_usd(t), (2000 * 5.0 + 1000 * 15.0) / 1e6 + 0.001);
  core::Trace none;  // no model call
  EXPECT_EQ(m.counterfactual_usd(none), 0.0);
}

TEST(Metrics, OutcomeOf) {
  core::Trace t;
  EXPECT_EQ(outcome_of(t), "ok");
  t.http_status = 429;
  t.error_code = "rate_limited";
  EXPECT_EQ(outcome_of(t), "client_error");
  t.http_status = 499;
  t.error_code = "cancelled";
  EXPECT_EQ(outcome_of(t), "cancelled");
  t.http_status = 504;
  t.error_code = "upstream_timeout";
  EXPECT_EQ(outcome_of(t), "error");
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
  EXPECT_NE(text.find("# TYPE triage_store_queued gauge"), std::string::npos);
  EXPECT_EQ(value_of(text, "triage_store_database_up"), 1) << text;  // an embedded store
  EXPECT_EQ(value_of(text, "triage_store_reconnects_total"), 0) << text;
  m.set_store(nullptr);
  EXPECT_EQ(m.render().find("triage_store_"), std::string::npos);
}

TEST(Metrics, InflightGaugeCountsLiveScopes) {
  Metrics m;
  {
    const Metrics::InflightScope a = m.track_inflight();
    {
      const Metrics::InflightScope b = m.track_inflight();
      const Metrics::InflightScope c = m.track_inflight();
      EXPECT_EQ(value_of(m.render(), "triage_inflight_requests"), 3);
    }
    EXPECT_EQ(value_of(m.render(), "triage_inflight_requests"), 1);
  }
  EXPECT_EQ(value_of(m.render(), "triage_inflight_requests"), 0);
  try {
    const Metrics::InflightScope scoped = m.track_inflight();
    throw std::runtime_error("request failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(value_of(m.render(), "triage_inflight_requests"), 0);
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

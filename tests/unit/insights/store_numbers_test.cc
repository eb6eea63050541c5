// One number everywhere: on the same store, written through the backend's real writer (SQLite
// and PostgreSQL, support/store_backends.h), the dashboard
// (DashboardDb over the store reader), `triage report` and `triage analyze` give the same
// latency p50/p95/p99 (the one percentile, telemetry/percentile.h), the same cost and the same
// CPI; and the dashboard's counterfactual and `triage roi --from-store`'s price the same tokens
// the same way (telemetry/counterfactual.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/trace.h"
#include "insights/analyze.h"
#include "insights/report.h"
#include "insights/roi.h"
#include "telemetry/counterfactual.h"
#include "telemetry/dashboard_db.h"
#include "telemetry/percentile.h"
#include "support/store_backends.h"
#include "telemetry/store_reader.h"

namespace triage::insights {
namespace {

using telemetry::testing::Backend;
using telemetry::testing::BackendStore;

constexpr int64_t kT0 = 1'699'999'200'000;  // a whole hour (and minute)
constexpr int kOk = 37;                     // successful requests
constexpr int kFailed = 4;

class StoreNumbers : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TRIAGE_SKIP_UNLESS_BACKEND(GetParam());
    backend_ = std::make_unique<BackendStore>(GetParam());  // a fresh store per test
    path_ = backend_->location();
    auto writer = backend_->open_writer(1000, 16, 10);
    telemetry::RequestStore& store = *writer;
    // One category and one hour, so that analyze's category, report's ALL row and a one-bucket
    // dashboard series all cover the same requests. Latencies are a scrambled 1..37 ms plus
    // odd microseconds, costs vary; four failures (their latency must not count anywhere).
    for (int i = 0; i < kOk + kFailed; ++i) {
      auto t = std::make_shared<core::Trace>();
      t->request_id = "req_" + std::to_string(1000 + i);
      t->time_ms = kT0 + 60'000LL * (i % 50) + i;
      t->category = "support";
      t->route = i % 3 == 0 ? "auto" : "";
      t->model = i % 2 == 0 ? "small-m" : "large-m";
      t->tier = i % 2 == 0 ? "small" : "large";
      t->tokens_in = 100 + 7 * i;
      t->tokens_out = 20 + 3 * i;
      t->cost_usd = (i % 2 == 0 ? 0.0001 : 0.003) * (1 + i % 5);
      t->total_us = ((i * 17) % kOk + 1) * 1000 + (i * 37) % 1000;
      t->upstream_us = t->total_us / 2;
      if (i >= kOk) {
        t->http_status = 502;
        t->error_code = "upstream_error";
        t->total_us = 1;  // a fast failure would drag every percentile down if counted
      }
      core::Span call;
      call.kind = core::SpanKind::kModelCall;
      call.name = t->model;
      call.tier = t->tier;
      call.tokens_in = t->tokens_in;
      call.tokens_out = t->tokens_out;
      call.cost_usd = t->cost_usd;
      call.ok = t->http_status < 400;
      t->spans.push_back(call);
      store.consume(t);
      expected_cost_ += t->cost_usd;
      tokens_in_ += t->tokens_in;
      tokens_out_ += t->tokens_out;
      if (i < kOk) latencies_us_.push_back(t->total_us);
    }
    store.close();
    ASSERT_EQ(store.written(), kOk + kFailed);
    std::sort(latencies_us_.begin(), latencies_us_.end());
  }

  std::unique_ptr<BackendStore> backend_;
  std::string path_;  // what `--store` takes: a SQLite file or a postgres:// URI
  double expected_cost_ = 0.0;
  int64_t tokens_in_ = 0, tokens_out_ = 0;
  std::vector<int64_t> latencies_us_;  // successful requests, sorted
};

// Equal up to the order of floating-point additions (each reader sums in its own order).
void expect_same(double a, double b, const char* what) {
  EXPECT_NEAR(a, b, 1e-12 * std::max(1.0, std::abs(b))) << what;
}

TEST_P(StoreNumbers, DashboardReportAndAnalyzeAgree) {
  // The definition, by hand: nearest rank over the 37 successful latencies.
  const double p50 = static_cast<double>(latencies_us_[18]) / 1000.0;  // rank ceil(18.5) = 19
  const double p95 = static_cast<double>(latencies_us_[35]) / 1000.0;  // rank ceil(35.15) = 36
  const double p99 = static_cast<double>(latencies_us_[36]) / 1000.0;  // rank ceil(36.63) = 37
  const double cpi = expected_cost_ / (kOk + kFailed);

  // Dashboard: one bucket holding every request (the sample is then every request: exact).
  auto reader = telemetry::open_store_reader(path_);
  ASSERT_TRUE(reader) << reader.error().message;
  telemetry::DashboardDb dash(**reader);
  const telemetry::TimeRange range{kT0, kT0 + 3'600'000 - 1};
  auto summary = dash.summary(range);
  ASSERT_TRUE(summary) << summary.error().internal;
  ASSERT_EQ(summary->requests, kOk + kFailed);
  auto latency = dash.latency_series(range, 3'600'000);
  ASSERT_TRUE(latency) << latency.error().internal;
  ASSERT_EQ(latency->buckets.size(), 1u);
  ASSERT_EQ(latency->requests[0], kOk);
  const double dash_p50 = latency->p50[0][0] / 1000.0;
  const double dash_p95 = latency->p95[0][0] / 1000.0;
  const double dash_p99 = latency->p99[0][0] / 1000.0;
  const double dash_cpi = summary->cost_usd / static_cast<double>(summary->requests);

  // triage report.
  auto rows = read_report_rows(path_);
  ASSERT_TRUE(rows) << rows.error().message;
  const ReportSummary report = summarize(*rows, nullptr, nullptr);
  ASSERT_EQ(report.all.requests, kOk + kFailed);

  // triage analyze --store.
  AnalyzeOptions o;
  o.store_path = path_;
  auto analysis = analyze(o);
  ASSERT_TRUE(analysis) << analysis.error().message;
  ASSERT_EQ(analysis->categories.size(), 1u);
  const CategoryStats& support = analysis->categories[0];
  ASSERT_EQ(support.n, kOk + kFailed);
  ASSERT_TRUE(support.p50_ms && support.p95_ms && support.p99_ms);

  using Named = std::vector<std::pair<std::string, double>>;
  for (const auto& [name, got] : Named{
           {"dashboard", dash_p50}, {"report", report.all.p50_ms}, {"analyze", *support.p50_ms}}) {
    EXPECT_DOUBLE_EQ(got, p50) << name << " p50";
  }
  for (const auto& [name, got] : Named{
           {"dashboard", dash_p95}, {"report", report.all.p95_ms}, {"analyze", *support.p95_ms}}) {
    EXPECT_DOUBLE_EQ(got, p95) << name << " p95";
  }
  for (const auto& [name, got] : Named{
           {"dashboard", dash_p99}, {"report", report.all.p99_ms}, {"analyze", *support.p99_ms}}) {
    EXPECT_DOUBLE_EQ(got, p99) << name << " p99";
  }
  expect_same(summary->cost_usd, expected_cost_, "dashboard cost");
  expect_same(report.all.cost_usd, expected_cost_, "report cost");
  expect_same(analysis->cost_usd, expected_cost_, "analyze cost");
  expect_same(dash_cpi, cpi, "dashboard CPI");
  expect_same(report.all.cpi_usd(), cpi, "report CPI");
  expect_same(support.cpi_usd, cpi, "analyze CPI");
}

TEST_P(StoreNumbers, DashboardAndRoiPriceTheSameCounterfactual) {
  config::Config cfg;
  config::Model ref;
  ref.name = "large-m";
  ref.tier = "large";
  ref.prices.input_per_mtok = 5;
  ref.prices.output_per_mtok = 15;
  cfg.models.push_back(ref);
  cfg.reference_model = "large-m";
  const double expected =
      telemetry::counterfactual_cost_usd(ref.prices, tokens_in_, tokens_out_, kOk + kFailed);
  // roi --from-store: the current CPI is the counterfactual per request (nano-USD, rounded).
  auto roi = roi_input_from_store(path_, cfg, 1'000'000);
  ASSERT_TRUE(roi) << roi.error().message;
  EXPECT_EQ(roi->current_cpi_nusd,
            std::llround(expected / (kOk + kFailed) * static_cast<double>(kNanoPerUsd)));
  // The dashboard summary's tokens priced the same way give the same number.
  auto reader = telemetry::open_store_reader(path_);
  ASSERT_TRUE(reader);
  auto s = telemetry::DashboardDb(**reader).summary({kT0, kT0 + 3'600'000 - 1});
  ASSERT_TRUE(s);
  expect_same(
      telemetry::counterfactual_cost_usd(ref.prices, s->tokens_in, s->tokens_out, s->requests),
      expected, "dashboard counterfactual");
}

TRIAGE_ON_EVERY_BACKEND(StoreNumbers);

}  // namespace
}  // namespace triage::insights

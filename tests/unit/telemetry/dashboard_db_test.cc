// DashboardDb: every aggregation on a small store with hand-computed answers.
#include "telemetry/dashboard_db.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <memory>
#include <string>

#include "support/store_backends.h"
#include "support/temp_dir.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {
namespace {

constexpr int64_t kT0 = 1'700'000'040'000;  // a whole minute
constexpr int64_t kMin = 60'000;

core::Trace make(const std::string& id, int64_t ts, const std::string& model,
                 const std::string& tier, double cost, int status = 200) {
  core::Trace t;
  t.request_id = id;
  t.time_ms = ts;
  t.model = model;
  t.tier = tier;
  t.cost_usd = cost;
  t.http_status = status;
  if (status == 504) t.error_code = "upstream_timeout";
  if (status == 502) t.error_code = "upstream_error";
  return t;
}

// A cascade's route span as routes/cascade.cc writes it: display text for people, the typed
// record for programs. The detail is deliberately not what the funnel reads.
core::Span cascade_span(int step, const std::string& step_route, core::CascadeOutcome outcome) {
  core::Span s;
  s.kind = core::SpanKind::kRoute;
  s.name = "casc";
  s.detail = "cascade/1: (display text, not parsed)";
  s.cascade = core::CascadeStop{step, step_route, outcome};
  return s;
}

// Every backend of the store gives the same answers (store_backends.h).
class DashboardDbTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    TRIAGE_SKIP_UNLESS_BACKEND(GetParam());
    backend_ = std::make_unique<testing::BackendStore>(GetParam());
    std::unique_ptr<RequestStore> writer = backend_->open_writer(100000, 64, 3600000);
    RequestStore& store = *writer;
    // Minute 0: ten answers of the small model through the cascade "casc", total 1..10 ms,
    // confidence 0.0, 0.1, ... 0.9. Six stop at step 0, three at step 1, one at step 2 (failed).
    for (int i = 0; i < 10; ++i) {
      core::Trace t = make("s" + std::to_string(i), kT0 + i, "small-m", "small", 0.01,
                           i == 9 ? 502 : 200);
      t.route = "casc";
      t.category = i % 2 == 0 ? "billing" : "";
      if (i < 3) t.api = core::ClientApi::kResponses;  // the store's `api` column
      t.tokens_in = 100;
      t.tokens_out = 20;
      t.total_us = 1000 * (i + 1);
      t.routing_us = 10;
      t.upstream_us = t.total_us - 10;
      t.label = "x";
      t.confidence = 0.1 * i;
      if (i < 6) {
        t.spans.push_back(cascade_span(0, "cheap", core::CascadeOutcome::kAccepted));
      } else if (i < 9) {
        t.spans.push_back(cascade_span(1, "mid", i == 8 ? core::CascadeOutcome::kFinalChecksFailed
                                                        : core::CascadeOutcome::kAccepted));
      } else {
        t.spans.push_back(cascade_span(2, "big", core::CascadeOutcome::kFailed));
      }
      store.consume(std::make_shared<const core::Trace>(std::move(t)));
    }
    // Minute 1: two answers of the large model; minute 2: three failures of it (one timeout).
    for (int i = 0; i < 2; ++i) {
      core::Trace t = make("l" + std::to_string(i), kT0 + kMin + i, "large-m", "large", 0.1);
      t.tokens_in = 200;
      t.tokens_out = 50;
      t.total_us = 20000;
      t.upstream_us = 19000;
      store.consume(std::make_shared<const core::Trace>(std::move(t)));
    }
    for (int i = 0; i < 3; ++i) {
      store.consume(std::make_shared<const core::Trace>(
          make("f" + std::to_string(i), kT0 + 2 * kMin + i, "large-m", "large", 0.0,
               i == 0 ? 504 : 502)));
    }
    // Outside every range below.
    store.consume(std::make_shared<const core::Trace>(make("old", kT0 - 3600000, "small-m", "small", 5.0)));
    store.close();
    reader_ = backend_->open_reader();
    ASSERT_TRUE(reader_);
    db_ = std::make_unique<DashboardDb>(*reader_);
  }
  void TearDown() override {
    db_.reset();
    reader_.reset();
    backend_.reset();
  }

  const TimeRange range_{kT0, kT0 + 3 * kMin - 1};
  std::unique_ptr<testing::BackendStore> backend_;
  std::unique_ptr<StoreReader> reader_;
  std::unique_ptr<DashboardDb> db_;
};

TRIAGE_ON_EVERY_BACKEND(DashboardDbTest);

TEST_P(DashboardDbTest, AggregatesTheRollupNotTheRows) {
  // No wide covering index any more: the writer maintains rollup_minute instead.
  if (GetParam() == testing::Backend::kSqlite) {
    EXPECT_EQ(
        backend_->count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'requests_dashboard'"), 0);
  }
  EXPECT_EQ(backend_->count("SELECT COUNT(*) FROM requests"), 16);
  EXPECT_EQ(backend_->count("SELECT SUM(requests) FROM rollup_minute"), 16);
  EXPECT_EQ(backend_->count("SELECT SUM(requests) FROM rollup_hour"), 16);
  EXPECT_EQ(backend_->count("SELECT SUM(requests) FROM rollup_model_minute"), 16);
}

TEST_P(DashboardDbTest, SummaryCountsOnlyTheRange) {
  auto s = db_->summary(range_);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->requests, 15);
  EXPECT_EQ(s->errors, 4);  // one cascade failure + three large failures
  EXPECT_NEAR(s->cost_usd, 10 * 0.01 + 2 * 0.1, 1e-12);
  EXPECT_EQ(s->tokens_in, 10 * 100 + 2 * 200);
  EXPECT_EQ(s->tokens_out, 10 * 20 + 2 * 50);
  EXPECT_EQ(s->first_ts_ms, kT0);
  EXPECT_EQ(s->last_ts_ms, kT0 + 2 * kMin + 2);

  auto all = db_->summary({0, kT0 * 2});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->requests, 16);
  auto none = db_->summary({0, 1000});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->requests, 0);
  EXPECT_EQ(none->cost_usd, 0.0);

  auto span = db_->data_span({0, kT0 * 2});
  ASSERT_TRUE(span && span->has_value());
  EXPECT_EQ((*span)->from_ms, kT0 - 3600000);
  EXPECT_EQ((*span)->to_ms, kT0 + 2 * kMin + 2);
  auto empty_span = db_->data_span({0, 1000});
  ASSERT_TRUE(empty_span);
  EXPECT_FALSE(empty_span->has_value());
}

TEST_P(DashboardDbTest, CostSeriesByTierAndCategory) {
  auto c = db_->cost_series(range_, kMin, Dimension::kTier);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->buckets, (std::vector<int64_t>{kT0, kT0 + kMin, kT0 + 2 * kMin}));
  ASSERT_EQ(c->series.size(), 2u);
  EXPECT_EQ(c->series[0].key, "small");  // most requests first
  EXPECT_EQ(c->series[0].requests, (std::vector<int64_t>{10, 0, 0}));
  EXPECT_NEAR(c->series[0].cost_usd[0], 0.1, 1e-12);
  EXPECT_EQ(c->series[1].key, "large");
  EXPECT_EQ(c->series[1].requests, (std::vector<int64_t>{0, 2, 3}));
  EXPECT_NEAR(c->series[1].cost_usd[1], 0.2, 1e-12);

  auto cat = db_->cost_series(range_, kMin, Dimension::kCategory);
  ASSERT_TRUE(cat);
  ASSERT_EQ(cat->series.size(), 2u);
  EXPECT_EQ(cat->series[0].key, "(none)");  // 5 small without a category + 5 large
  EXPECT_EQ(cat->series[0].requests, (std::vector<int64_t>{5, 2, 3}));
  EXPECT_EQ(cat->series[1].key, "billing");

  // By client API (the rows' typed `api` column, not a rollup).
  auto api = db_->cost_series(range_, kMin, Dimension::kApi);
  ASSERT_TRUE(api) << api.error().message;
  ASSERT_EQ(api->series.size(), 2u);
  EXPECT_EQ(api->series[0].key, "chat");
  EXPECT_EQ(api->series[0].requests, (std::vector<int64_t>{7, 2, 3}));
  EXPECT_EQ(api->series[1].key, "responses");
  EXPECT_EQ(api->series[1].requests, (std::vector<int64_t>{3, 0, 0}));

  // Folding: with room for one group only, everything lands in "(other)".
  auto folded = db_->cost_series(range_, kMin, Dimension::kModel, 1);
  ASSERT_TRUE(folded);
  ASSERT_EQ(folded->series.size(), 1u);
  EXPECT_EQ(folded->series[0].key, "(other)");
  EXPECT_EQ(folded->series[0].requests, (std::vector<int64_t>{10, 2, 3}));

  auto total = db_->cost_series(range_, 3 * kMin, Dimension::kNone);
  ASSERT_TRUE(total);
  ASSERT_EQ(total->series.size(), 1u);
  EXPECT_EQ(total->series[0].key, "all");
  int64_t sum = 0;  // 3-minute buckets start at multiples of 3 minutes: the range spans two
  for (int64_t n : total->series[0].requests) sum += n;
  EXPECT_EQ(total->series[0].requests.size(), total->buckets.size());
  EXPECT_EQ(sum, 15);
}

TEST_P(DashboardDbTest, LatencyPercentilesOfSuccessfulRequests) {
  auto l = db_->latency_series(range_, kMin);
  ASSERT_TRUE(l) << l.error().message;
  ASSERT_EQ(l->buckets.size(), 3u);
  EXPECT_EQ(l->requests, (std::vector<int64_t>{9, 2, 0}));  // errors excluded
  // Minute 0: totals 1..9 ms (the tenth failed). Nearest rank: p50 = 5th, p95 = p99 = 9th.
  EXPECT_EQ(l->p50[0][0], 5000);
  EXPECT_EQ(l->p95[0][0], 9000);
  EXPECT_EQ(l->p99[0][0], 9000);
  EXPECT_DOUBLE_EQ(l->mean[0][0], 5000.0);
  EXPECT_DOUBLE_EQ(l->mean[1][0], 10.0);  // routing part
  EXPECT_EQ(l->p50[0][1], 20000);
  EXPECT_EQ(l->p50[0][2], 0);

  // A reservoir smaller than the bucket still gives values from the bucket.
  auto sampled = db_->latency_series(range_, kMin, 3);
  ASSERT_TRUE(sampled);
  EXPECT_EQ(sampled->requests[0], 9);
  EXPECT_GE(sampled->p50[0][0], 1000);
  EXPECT_LE(sampled->p99[0][0], 9000);
  EXPECT_EQ(sampled->sample_per_bucket, 3);
  EXPECT_GE(sampled->mean[0][0], 1000.0);  // the mean of the sample
  EXPECT_LE(sampled->mean[0][0], 9000.0);
}

TEST_P(DashboardDbTest, ModelsWithErrorsTimeoutsAndAvailability) {
  auto m = db_->models(range_);
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->size(), 2u);
  const ModelRow& small = (*m)[0];
  EXPECT_EQ(small.model, "small-m");
  EXPECT_EQ(small.requests, 10);
  EXPECT_EQ(small.server_errors, 1);
  EXPECT_EQ(small.minutes_with_traffic, 1);
  EXPECT_EQ(small.minutes_available, 1);
  const ModelRow& large = (*m)[1];
  EXPECT_EQ(large.model, "large-m");
  EXPECT_EQ(large.tier, "large");
  EXPECT_EQ(large.requests, 5);
  EXPECT_EQ(large.server_errors, 3);
  EXPECT_EQ(large.timeouts, 1);
  EXPECT_EQ(large.client_errors, 0);
  EXPECT_EQ(large.tokens_out, 100);
  EXPECT_EQ(large.upstream_us, 38000);
  EXPECT_EQ(large.minutes_with_traffic, 2);
  EXPECT_EQ(large.minutes_available, 1);  // minute 2 had only failures
}

TEST_P(DashboardDbTest, FunnelFromCascadeSpans) {
  auto f = db_->funnel(range_);
  ASSERT_TRUE(f) << f.error().message << " " << f.error().internal;
  EXPECT_EQ(f->scanned, 10);
  EXPECT_FALSE(f->truncated);
  ASSERT_EQ(f->routes.size(), 1u);
  const FunnelRoute& r = f->routes[0];
  EXPECT_EQ(r.route, "casc");
  EXPECT_EQ(r.requests, 10);
  ASSERT_EQ(r.steps.size(), 3u);
  EXPECT_EQ(r.steps[0].name, "cheap");
  EXPECT_EQ(r.steps[0].stopped, 6);
  EXPECT_EQ(r.steps[0].accepted, 6);
  EXPECT_EQ(r.steps[1].name, "mid");
  EXPECT_EQ(r.steps[1].stopped, 3);
  EXPECT_EQ(r.steps[1].accepted, 3);  // final_checks_failed still answered
  EXPECT_EQ(r.steps[2].name, "big");
  EXPECT_EQ(r.steps[2].stopped, 1);
  EXPECT_EQ(r.steps[2].accepted, 0);

  auto limited = db_->funnel(range_, 4);  // the newest four: s9, s8, s7, s6
  ASSERT_TRUE(limited);
  EXPECT_TRUE(limited->truncated);
  ASSERT_EQ(limited->routes.size(), 1u);
  EXPECT_EQ(limited->routes[0].steps[0].stopped, 0);
  EXPECT_EQ(limited->routes[0].steps[1].stopped, 3);
}

TEST_P(DashboardDbTest, ConfidenceHistogramAndLatestLabels) {
  StoreReaderOptions writes;
  writes.review_writes = true;
  auto opened = open_store_reader(backend_->location(), writes);
  ASSERT_TRUE(opened) << opened.error().message;
  ReviewDb& review = **opened;
  ASSERT_TRUE(review.add_label({"s1", "incorrect", "", "", "a"}, kT0));
  ASSERT_TRUE(review.add_label({"s1", "correct", "small", "", "a"}, kT0 + 1));  // latest wins
  ASSERT_TRUE(review.add_label({"l0", "correct", "small", "", "a"}, kT0));
  ASSERT_TRUE(review.add_label({"old", "correct", "", "", "a"}, kT0));  // outside the range

  auto c = db_->confidence(range_, 10);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->with_confidence, 10);
  ASSERT_EQ(c->histogram.size(), 10u);
  // 0.1 * i lands in bin i except where floating point puts it just below (0.3 -> 0.2999...).
  int64_t sum = 0;
  for (int64_t n : c->histogram) sum += n;
  EXPECT_EQ(sum, 10);
  EXPECT_EQ(c->histogram[0], 1);
  EXPECT_EQ(c->histogram[9], 1);

  ASSERT_EQ(c->labels.size(), 2u);
  std::map<std::string, ConfidenceStats::LabelGroup> by_tier;
  for (const auto& g : c->labels) by_tier[g.answered_tier] = g;
  EXPECT_EQ(by_tier["small"].verdict, "correct");
  EXPECT_EQ(by_tier["small"].sufficient_tier, "small");
  EXPECT_EQ(by_tier["small"].count, 1);
  EXPECT_EQ(by_tier["large"].sufficient_tier, "small");
}

// The funnel counts the typed record only: a route span whose display text looks like a
// cascade's (any spelling, old or new) but has no `cascade` record is not counted.
TEST(DashboardFunnel, DisplayTextIsNeverParsed) {
  const triage::testing::TempDir dir;
  const std::string path = dir.file("triage.db");
  {
    SqliteStore store(SqliteStoreOptions{path, 1000, 64, 3600000});
    int i = 0;
    for (const char* detail : {"cascade: step 0 'a' accepted", "cascade/1: step 0 'a' accepted"}) {
      core::Trace t = make("x" + std::to_string(i++), kT0, "m", "small", 0.0);
      core::Span s;
      s.kind = core::SpanKind::kRoute;
      s.name = "casc";
      s.detail = detail;
      t.spans.push_back(s);
      store.consume(std::make_shared<const core::Trace>(std::move(t)));
    }
    store.close();
  }
  auto reader = open_store_reader(path);
  ASSERT_TRUE(reader);
  auto f = DashboardDb(**reader).funnel({kT0 - kMin, kT0 + kMin});
  ASSERT_TRUE(f) << f.error().internal;
  EXPECT_EQ(f->scanned, 0);
  EXPECT_TRUE(f->routes.empty());
}

// Every cascade span of a request is counted, under its own cascade's name: a cascade whose
// step is another cascade, and a cascade whose span is not the request's last.
TEST(DashboardFunnel, NestedCascadesAreEachCounted) {
  const triage::testing::TempDir dir;
  const std::string path = dir.file("triage.db");
  auto span = [](const std::string& cascade, int step, const std::string& route,
                 core::CascadeOutcome outcome) {
    core::Span s;
    s.kind = core::SpanKind::kRoute;
    s.name = cascade;
    s.cascade = core::CascadeStop{step, route, outcome};
    return s;
  };
  {
    SqliteStore store(SqliteStoreOptions{path, 1000, 64, 3600000});
    core::Trace nested = make("n", kT0, "m", "small", 0.0);
    nested.spans = {span("inner", 1, "b", core::CascadeOutcome::kAccepted),
                    span("outer", 0, "inner", core::CascadeOutcome::kAccepted)};
    core::Trace not_last = make("l", kT0 + 1, "m", "small", 0.0);
    not_last.spans = {span("inner", 0, "a", core::CascadeOutcome::kCancelled), core::Span{}};
    core::Trace plain = make("p", kT0 + 2, "m", "small", 0.0);
    plain.spans = {core::Span{}, span("outer", 1, "big", core::CascadeOutcome::kFailed)};
    for (core::Trace* t : {&nested, &not_last, &plain}) {
      store.consume(std::make_shared<const core::Trace>(std::move(*t)));
    }
    store.close();
  }
  auto reader = open_store_reader(path);
  ASSERT_TRUE(reader);
  auto f = DashboardDb(**reader).funnel({kT0 - kMin, kT0 + kMin});
  ASSERT_TRUE(f) << f.error().internal;
  EXPECT_EQ(f->scanned, 3);
  ASSERT_EQ(f->routes.size(), 2u);
  std::map<std::string, FunnelRoute> by_name;
  for (const FunnelRoute& r : f->routes) by_name[r.route] = r;
  const FunnelRoute& inner = by_name["inner"];
  EXPECT_EQ(inner.requests, 2);
  ASSERT_EQ(inner.steps.size(), 2u);
  EXPECT_EQ(inner.steps[0].name, "a");
  EXPECT_EQ(inner.steps[0].stopped, 1);
  EXPECT_EQ(inner.steps[0].accepted, 0);  // cancelled: no answer
  EXPECT_EQ(inner.steps[1].name, "b");
  EXPECT_EQ(inner.steps[1].accepted, 1);
  const FunnelRoute& outer = by_name["outer"];
  EXPECT_EQ(outer.requests, 2);
  ASSERT_EQ(outer.steps.size(), 2u);
  EXPECT_EQ(outer.steps[0].accepted, 1);
  EXPECT_EQ(outer.steps[1].stopped, 1);
  EXPECT_EQ(outer.steps[1].accepted, 0);  // failed
}

TEST(DashboardBuckets, AlignedToTheEpoch) {
  EXPECT_EQ(bucket_starts({kT0 + 5, kT0 + kMin}, kMin), (std::vector<int64_t>{kT0, kT0 + kMin}));
  EXPECT_TRUE(bucket_starts({10, 5}, kMin).empty());
  EXPECT_EQ(parse_dimension("cohort"), Dimension::kCohort);
  EXPECT_EQ(parse_dimension(""), Dimension::kNone);
  EXPECT_FALSE(parse_dimension("color").has_value());
}

}  // namespace
}  // namespace triage::telemetry

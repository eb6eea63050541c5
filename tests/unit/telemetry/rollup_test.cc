// The per-minute rollup (schema v3): the writer's upserts and the v2->v3 backfill must equal an
// aggregation of the raw rows exactly, and the dashboard's rollup-plus-edges queries must equal
// raw SQL for ranges that do not start or end on a minute.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/store_backends.h"
#include "support/temp_dir.h"
#include "telemetry/dashboard_db.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1'700'000'040'000;  // a whole minute
constexpr int64_t kMin = 60'000;

// A rollup recomputed from `requests` (the v3 backfill's definition, written independently):
// `minute` is the minute expression, `dims` the key columns after it.
std::string raw_rollup(const std::string& minute, const std::string& dims) {
  return "SELECT " + minute + ", " + dims +
         ", COUNT(*), SUM(status >= 400 AND status < 500), SUM(status >= 500), "
         "SUM(IFNULL(error_code = 'upstream_timeout', 0)), SUM(cost_usd), SUM(tokens_in), "
         "SUM(tokens_out), SUM(upstream_us), SUM(total_us) FROM requests "
         "GROUP BY 1, 2, 3, 4, 5, 6";
}
constexpr const char* kAllDims =
    "IFNULL(model, ''), IFNULL(tier, ''), IFNULL(route, ''), IFNULL(category, ''), "
    "IFNULL(cohort, '')";
std::string stored(const std::string& table) {
  return "SELECT minute, model, tier, route, category, cohort, requests, client_errors, "
         "server_errors, timeouts, cost_usd, tokens_in, tokens_out, upstream_us, total_us FROM " +
         table;
}

class Db {
 public:
  explicit Db(const std::string& path, bool writable = false) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_,
                              writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
  }
  ~Db() { sqlite3_close(db_); }
  int64_t count(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
  }
  double real(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    double v = -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    return v;
  }
  void exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "") << " in " << sql;
    sqlite3_free(err);
  }
  // Rows of one query missing from the other, both ways: 0 when they are equal as multisets
  // of distinct rows (keys are unique in both).
  int64_t difference(const std::string& a, const std::string& b) {
    return count("SELECT COUNT(*) FROM (" + a + " EXCEPT " + b + ")") +
           count("SELECT COUNT(*) FROM (" + b + " EXCEPT " + a + ")");
  }

 private:
  sqlite3* db_ = nullptr;
};

// Random traffic over `minutes` minutes; costs are multiples of 1/1024 so every sum is exact
// whatever the order of addition.
std::vector<core::TracePtr> random_traffic(int n, int minutes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::initializer_list<const char*> v) {
    return std::string(*(v.begin() + rng() % v.size()));
  };
  std::vector<core::TracePtr> out;
  for (int i = 0; i < n; ++i) {
    core::Trace t;
    t.request_id = "r" + std::to_string(i);
    // Whole seconds, some a millisecond before: many rows sit exactly on minute boundaries.
    t.time_ms = kT0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(minutes * 60)) * 1000 -
                static_cast<int64_t>(rng() % 3 == 0);
    t.model = pick({"small-m", "large-m", ""});
    t.tier = t.model.empty() ? "" : pick({"small", "large"});
    t.route = pick({"casc", "auto", ""});
    t.category = pick({"billing", "code", ""});
    t.cohort = pick({"a", "b", ""});
    constexpr int kStatuses[] = {200, 200, 200, 400, 429, 502, 504};
    t.http_status = kStatuses[rng() % 7];
    if (t.http_status == 504) t.error_code = "upstream_timeout";
    if (t.http_status == 502) t.error_code = "upstream_error";
    t.cost_usd = static_cast<double>(rng() % 64) / 1024.0;
    t.tokens_in = static_cast<int64_t>(rng() % 1000);
    t.tokens_out = static_cast<int64_t>(rng() % 500);
    t.upstream_us = static_cast<int64_t>(rng() % 100000);
    t.total_us = t.upstream_us + static_cast<int64_t>(rng() % 1000);
    out.push_back(std::make_shared<const core::Trace>(std::move(t)));
  }
  return out;
}

class RollupTest : public ::testing::Test {
 protected:

  // Writes `traces` in small batches (many keys hit an existing row: the upsert's update path),
  // plus one duplicate request id, which must not reach the rollup.
  void write(const std::vector<core::TracePtr>& traces) {
    SqliteStore store(SqliteStoreOptions{path_, 100000, 7, 3600000});
    for (const auto& t : traces) store.consume(t);
    store.consume(traces.front());
    store.close();
    EXPECT_EQ(store.written(), static_cast<int64_t>(traces.size()));
    EXPECT_EQ(store.dropped(), 1);
  }

  // Turns the store back into an older version with `sql`, then opens it with the current
  // code, which migrates it.
  void downgrade_and_reopen(const std::string& sql) {
    {
      Db db(path_, true);
      db.exec(sql);
    }
    SqliteStore store(SqliteStoreOptions{path_, 100, 7, 3600000});
  }

  // All three rollup tables equal an aggregation of the raw rows.
  void expect_rollups_equal_raw() {
    Db db(path_);
    EXPECT_EQ(db.difference(raw_rollup("ts_ms / 60000", kAllDims), stored("rollup_minute")), 0);
    EXPECT_EQ(db.difference(raw_rollup("ts_ms / 3600000 * 60", kAllDims), stored("rollup_hour")),
              0);
    EXPECT_EQ(db.difference(raw_rollup("ts_ms / 60000", "IFNULL(model, ''), '', '', '', ''"),
                            stored("rollup_model_minute")),
              0);
  }

  triage::testing::TempDir tmp_;
  const std::string path_ = tmp_.file("triage.db");
};

TEST_F(RollupTest, WriterRollupEqualsRawAggregationExactly) {
  write(random_traffic(3000, 150, 1));
  Db db(path_);
  EXPECT_GT(db.count("SELECT COUNT(*) FROM rollup_minute"), 100);
  EXPECT_EQ(db.count("SELECT SUM(requests) FROM rollup_minute"), 3000);
  expect_rollups_equal_raw();
}

TEST_F(RollupTest, MigrationFromVersion2BackfillsTheRollup) {
  write(random_traffic(2000, 10, 2));
  // A version-2 store: no rollup, the v2 indexes.
  downgrade_and_reopen(
      "DROP TABLE rollup_minute; DROP TABLE rollup_hour; DROP TABLE rollup_model_minute; "
      "CREATE INDEX requests_status ON requests(status); "
      "CREATE INDEX requests_dashboard ON requests(ts_ms, status, cost_usd); "
      "UPDATE meta SET value = '2' WHERE key = 'schema_version';");
  Db db(path_);
  EXPECT_EQ(db.count("SELECT value FROM meta WHERE key = 'schema_version'"),
            SqliteStore::kSchemaVersion);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('requests_status', "
                     "'requests_dashboard')"),
            0);
  EXPECT_EQ(db.count("SELECT SUM(requests) FROM rollup_minute"), 2000);
  expect_rollups_equal_raw();
}

TEST_F(RollupTest, MigrationFromVersion3DropsThePerModelAndPerRouteIndexes) {
  write(random_traffic(300, 10, 5));
  // A version-3 store: the per-model and per-route indexes.
  downgrade_and_reopen(
      "CREATE INDEX requests_model_ts_ms ON requests(model, ts_ms); "
      "CREATE INDEX requests_route_ts_ms ON requests(route, ts_ms); "
      "UPDATE meta SET value = '3' WHERE key = 'schema_version';");
  Db db(path_);
  EXPECT_EQ(db.count("SELECT value FROM meta WHERE key = 'schema_version'"),
            SqliteStore::kSchemaVersion);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                     "('requests_model_ts_ms', 'requests_route_ts_ms')"),
            0);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'requests_ts_ms'"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM requests"), 300);
  EXPECT_EQ(db.count("SELECT SUM(requests) FROM rollup_minute"), 300);
}

TEST_F(RollupTest, DashboardEqualsRawSqlForUnalignedRanges) {
  write(random_traffic(4000, 200, 3));
  auto reader = open_store_reader(path_);
  ASSERT_TRUE(reader) << reader.error().message;
  DashboardDb dash(**reader);
  Db db(path_);
  std::mt19937_64 rng(4);
  for (int i = 0; i < 25; ++i) {
    // Ranges from inside one minute up to the whole data, rarely minute-aligned; the last two
    // start on an hour (empty raw/minute head).
    // Ends on whole seconds or a millisecond off, to hit rows on the pieces' boundaries.
    auto jitter = [&] { return static_cast<int64_t>(rng() % 3) - 1; };
    int64_t a = kT0 - kMin + static_cast<int64_t>(rng() % (202 * 60)) * 1000 + jitter();
    if (i >= 23) a = (kT0 / 3'600'000 + 1) * 3'600'000;
    const int64_t b =
        a + static_cast<int64_t>(rng() % (i < 5 ? 60 : 202 * 60)) * 1000 + jitter();
    const TimeRange r{a, b};
    const std::string where =
        " FROM requests WHERE ts_ms BETWEEN " + std::to_string(a) + " AND " + std::to_string(b);
    SCOPED_TRACE("range " + std::to_string(a - kT0) + ".." + std::to_string(b - kT0));

    auto s = dash.summary(r);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->requests, db.count("SELECT COUNT(*)" + where));
    EXPECT_EQ(s->errors, db.count("SELECT COUNT(*)" + where + " AND status >= 400"));
    EXPECT_EQ(s->cost_usd, db.real("SELECT TOTAL(cost_usd)" + where));
    EXPECT_EQ(s->tokens_out, db.count("SELECT TOTAL(tokens_out)" + where));
    EXPECT_EQ(s->first_ts_ms, db.count("SELECT IFNULL(MIN(ts_ms), 0)" + where));

    auto m = dash.models(r);
    ASSERT_TRUE(m) << m.error().message;
    for (const ModelRow& row : *m) {
      const std::string w = where + (row.model == "(none)" ? " AND model IS NULL"
                                                           : " AND model = '" + row.model + "'");
      EXPECT_EQ(row.requests, db.count("SELECT COUNT(*)" + w)) << row.model;
      EXPECT_EQ(row.server_errors, db.count("SELECT COUNT(*)" + w + " AND status >= 500"));
      EXPECT_EQ(row.timeouts,
                db.count("SELECT COUNT(*)" + w + " AND error_code = 'upstream_timeout'"));
      EXPECT_EQ(row.cost_usd, db.real("SELECT TOTAL(cost_usd)" + w));
      EXPECT_EQ(row.upstream_us, db.count("SELECT TOTAL(upstream_us)" + w));
      EXPECT_EQ(row.minutes_with_traffic, db.count("SELECT COUNT(DISTINCT ts_ms / 60000)" + w));
      EXPECT_EQ(row.minutes_available,
                db.count("SELECT COUNT(DISTINCT ts_ms / 60000)" + w + " AND status < 500"));
    }

    // 7 s buckets are not whole minutes: rows only (on the short ranges, to keep this fast).
    for (int64_t bucket : {kMin, 60 * kMin, i < 5 ? int64_t{7'000} : 120 * kMin}) {
      auto c = dash.cost_series(r, bucket, Dimension::kCategory, 100);
      ASSERT_TRUE(c) << c.error().message;
      for (const auto& series : c->series) {
        const std::string w = where + (series.key == "(none)"
                                           ? " AND category IS NULL"
                                           : " AND category = '" + series.key + "'");
        for (size_t k = 0; k < c->buckets.size(); ++k) {
          const std::string wb = w + " AND ts_ms / " + std::to_string(bucket) + " * " +
                                 std::to_string(bucket) + " = " + std::to_string(c->buckets[k]);
          EXPECT_EQ(series.requests[k], db.count("SELECT COUNT(*)" + wb)) << series.key;
          EXPECT_EQ(series.cost_usd[k], db.real("SELECT TOTAL(cost_usd)" + wb)) << series.key;
        }
      }
    }

    auto l = dash.latency_series(r, kMin);
    ASSERT_TRUE(l) << l.error().message;
    int64_t ok = 0;
    for (int64_t n : l->requests) ok += n;
    EXPECT_EQ(ok, db.count("SELECT COUNT(*)" + where + " AND status < 400"));
  }
}

// PostgreSQL's rollups and rollup-plus-edges queries give exactly SQLite's answers (which the
// test above holds to raw SQL), range by range: written by PgStore from the same traffic.
TEST_F(RollupTest, PostgresDashboardEqualsSqlitesForUnalignedRanges) {
  TRIAGE_SKIP_UNLESS_BACKEND(testing::Backend::kPostgres);
  const std::vector<core::TracePtr> traffic = random_traffic(3000, 200, 3);
  write(traffic);
  testing::BackendStore pg(testing::Backend::kPostgres);
  {
    auto store = pg.open_writer(100000, 7, 3600000);  // small batches: the upserts' update path
    for (const auto& t : traffic) store->consume(t);
    store->consume(traffic.front());  // a duplicate: never in the rollup
    store->close();
    EXPECT_EQ(store->written(), 3000);
    EXPECT_EQ(store->dropped(), 1);
  }
  auto lite_reader = open_store_reader(path_);
  ASSERT_TRUE(lite_reader) << lite_reader.error().message;
  auto pg_reader = pg.open_reader();
  ASSERT_TRUE(pg_reader);
  DashboardDb lite(**lite_reader), post(*pg_reader);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20; ++i) {
    auto jitter = [&] { return static_cast<int64_t>(rng() % 3) - 1; };
    int64_t a = kT0 - kMin + static_cast<int64_t>(rng() % (202 * 60)) * 1000 + jitter();
    if (i >= 18) a = (kT0 / 3'600'000 + 1) * 3'600'000;
    const int64_t b = a + static_cast<int64_t>(rng() % (i < 5 ? 60 : 202 * 60)) * 1000 + jitter();
    const TimeRange r{a, b};
    SCOPED_TRACE("range " + std::to_string(a - kT0) + ".." + std::to_string(b - kT0));
    auto s1 = lite.summary(r), s2 = post.summary(r);
    ASSERT_TRUE(s1 && s2) << (s2 ? "" : s2.error().internal);
    EXPECT_EQ(s2->requests, s1->requests);
    EXPECT_EQ(s2->errors, s1->errors);
    EXPECT_EQ(s2->cost_usd, s1->cost_usd);
    EXPECT_EQ(s2->tokens_in, s1->tokens_in);
    EXPECT_EQ(s2->tokens_out, s1->tokens_out);
    EXPECT_EQ(s2->first_ts_ms, s1->first_ts_ms);
    EXPECT_EQ(s2->last_ts_ms, s1->last_ts_ms);
    auto m1 = lite.models(r), m2 = post.models(r);
    ASSERT_TRUE(m1 && m2) << (m2 ? "" : m2.error().internal);
    ASSERT_EQ(m2->size(), m1->size());
    for (size_t k = 0; k < m1->size(); ++k) {
      const ModelRow &x = (*m1)[k], &y = (*m2)[k];
      EXPECT_EQ(y.model, x.model);
      EXPECT_EQ(y.tier, x.tier);
      EXPECT_EQ(y.requests, x.requests);
      EXPECT_EQ(y.server_errors, x.server_errors);
      EXPECT_EQ(y.client_errors, x.client_errors);
      EXPECT_EQ(y.timeouts, x.timeouts);
      EXPECT_EQ(y.tokens_in, x.tokens_in);
      EXPECT_EQ(y.cost_usd, x.cost_usd);
      EXPECT_EQ(y.upstream_us, x.upstream_us);
      EXPECT_DOUBLE_EQ(y.mean_total_us, x.mean_total_us);
      EXPECT_EQ(y.minutes_with_traffic, x.minutes_with_traffic);
      EXPECT_EQ(y.minutes_available, x.minutes_available);
    }
    for (int64_t bucket : {kMin, 60 * kMin, i < 5 ? int64_t{7'000} : 120 * kMin}) {
      for (Dimension d : {Dimension::kCategory, Dimension::kModel, Dimension::kApi}) {
        auto c1 = lite.cost_series(r, bucket, d, 100), c2 = post.cost_series(r, bucket, d, 100);
        ASSERT_TRUE(c1 && c2) << (c2 ? "" : c2.error().internal);
        EXPECT_EQ(c2->buckets, c1->buckets);
        ASSERT_EQ(c2->series.size(), c1->series.size());
        for (size_t k = 0; k < c1->series.size(); ++k) {
          EXPECT_EQ(c2->series[k].key, c1->series[k].key);
          EXPECT_EQ(c2->series[k].requests, c1->series[k].requests);
          EXPECT_EQ(c2->series[k].cost_usd, c1->series[k].cost_usd);
        }
      }
      auto l1 = lite.latency_series(r, bucket), l2 = post.latency_series(r, bucket);
      ASSERT_TRUE(l1 && l2) << (l2 ? "" : l2.error().internal);
      EXPECT_EQ(l2->requests, l1->requests);
      for (int part = 0; part < LatencySeries::kParts; ++part) {
        EXPECT_EQ(l2->p50[part], l1->p50[part]);
        EXPECT_EQ(l2->p99[part], l1->p99[part]);
        EXPECT_EQ(l2->mean[part], l1->mean[part]);
      }
    }
  }
}

TEST_F(RollupTest, LatencySampleIsBoundedOnALargeBucket) {
  write(random_traffic(3000, 2, 5));
  auto reader = open_store_reader(path_);
  ASSERT_TRUE(reader) << reader.error().message;
  DashboardDb dash(**reader);
  auto l = dash.latency_series({kT0, kT0 + 2 * kMin - 1}, 2 * kMin, 200);
  ASSERT_TRUE(l) << l.error().message;
  ASSERT_EQ(l->requests.size(), 1u);
  EXPECT_GT(l->requests[0], 1000);  // exact count of successful requests
  EXPECT_EQ(l->sample_per_bucket, 200);
  EXPECT_GT(l->p50[0][0], 0);
  EXPECT_LE(l->p99[0][0], 101000);
}

}  // namespace
}  // namespace triage::telemetry

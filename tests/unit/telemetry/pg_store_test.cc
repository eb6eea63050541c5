// The PostgreSQL store's connection wrapper, schema and writer against a real, throwaway
// PostgreSQL server (tests/pg/pg_server.h). Skipped only when the server binaries are absent.
#include "telemetry/pg_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pg_server.h"
#include "telemetry/pg_db.h"
#include "telemetry/pg_schema.h"
#include "test_traces.h"

namespace triage::telemetry {
namespace {

using testing::full_trace;
using triage::testing::shared_pg_server;

core::TracePtr ptr(core::Trace t) { return std::make_shared<const core::Trace>(std::move(t)); }

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TRIAGE_PG_SERVER_OR_SKIP();
    conninfo_ = shared_pg_server().conninfo(shared_pg_server().create_database());
    auto c = pg::Connection::open(conninfo_);
    ASSERT_TRUE(c) << c.error().message;
    db_ = std::move(c.value());
  }

  PgStoreOptions options(int64_t capacity = 100000, int64_t batch = 64,
                         int64_t flush_ms = 3600000) const {
    PgStoreOptions o;
    o.conninfo = conninfo_;
    o.queue_capacity = capacity;
    o.batch_size = batch;
    o.flush_interval_ms = flush_ms;
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 200;
    return o;
  }

  int64_t count(const std::string& sql) {
    auto r = db_.exec(sql);
    EXPECT_TRUE(r) << sql << ": " << r.error().message;
    return r && r->rows() > 0 ? r->i64(0, 0) : -1;
  }
  std::string text(const std::string& sql) {
    auto r = db_.exec(sql);
    EXPECT_TRUE(r) << sql << ": " << r.error().message;
    if (!r || r->rows() == 0) return "<none>";
    return r->is_null(0, 0) ? "<null>" : r->text(0, 0);
  }

  std::string conninfo_;
  pg::Connection db_;
};

TEST(PgConninfo, DescriptionsNeverHoldThePassword) {
  EXPECT_EQ(pg::describe_conninfo("postgres://alice:s3cret@db.example:5433/triage?sslmode=require"),
            "postgresql://alice@db.example:5433/triage");
  EXPECT_EQ(pg::describe_conninfo("host=10.0.0.5 user=bob password=s3cret dbname=t"),
            "postgresql://bob@10.0.0.5/t");
  EXPECT_EQ(pg::describe_conninfo("host='unterminated password=s3cret"),
            "(unparseable connection string)");
}

TEST(PgConninfo, ParamsKeepTheirValuesExactly) {
  pg::Params p;
  p.add(int64_t{-7}).add(0.1).add(std::string("a'b")).add_null().add_or_null("");
  const std::vector<const char*> v = p.pointers();
  ASSERT_EQ(v.size(), 5u);
  EXPECT_STREQ(v[0], "-7");
  EXPECT_EQ(std::stod(v[1]), 0.1);  // shortest form, reads back as the same double
  EXPECT_STREQ(v[2], "a'b");
  EXPECT_EQ(v[3], nullptr);
  EXPECT_EQ(v[4], nullptr);
}

TEST_F(PgStoreTest, SchemaIsCreatedAtItsVersionAndReapplyingIsANoOp) {
  ASSERT_TRUE(create_or_migrate_pg_schema(db_, "test"));
  EXPECT_EQ(text("SELECT value FROM meta WHERE key = 'schema_version'"),
            std::to_string(kPgSchemaVersion));
  const std::string tables =
      "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'";
  const int64_t n = count(tables);
  // meta, requests, 5 review, api_keys, 2 config, 2 rollout, slo, 3 rollup; leases (v11), window_slices (v12)
  EXPECT_EQ(n, 18);
  EXPECT_EQ(text("SELECT to_regclass('leases')::text"), "leases");
  ASSERT_TRUE(
      db_.exec("INSERT INTO api_keys VALUES ('k', 's', 'n', '', '', '', 0, 0, 0, 0, 0, 0, 0)"));
  ASSERT_TRUE(create_or_migrate_pg_schema(db_, "test"));
  EXPECT_EQ(count(tables), n);
  EXPECT_EQ(count("SELECT COUNT(*) FROM api_keys"), 1);
}

TEST_F(PgStoreTest, MigrationsRunInOrderOnceEach) {
  ASSERT_TRUE(create_or_migrate_pg_schema(db_, "test", 10, {}));
  const std::vector<PgMigration> steps = {
      {10, "CREATE TABLE extra (x BIGINT); INSERT INTO extra VALUES (1);"},
      {11, "ALTER TABLE extra ADD COLUMN y TEXT; INSERT INTO extra VALUES (2, 'b');"}};
  ASSERT_TRUE(create_or_migrate_pg_schema(db_, "test", 12, steps));
  EXPECT_EQ(text("SELECT value FROM meta WHERE key = 'schema_version'"), "12");
  ASSERT_TRUE(create_or_migrate_pg_schema(db_, "test", 12, steps));  // no-op
  EXPECT_EQ(count("SELECT COUNT(*) FROM extra"), 2);
}

TEST_F(PgStoreTest, AFailedMigrationLeavesTheVersionBeforeIt) {
  ASSERT_TRUE(create_or_migrate_pg_schema(db_, "test", 10, {}));
  const std::vector<PgMigration> steps = {{10, "CREATE TABLE extra (x BIGINT); SELECT 1/0;"}};
  auto r = create_or_migrate_pg_schema(db_, "test", 11, steps);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot migrate schema from version 10 to 11"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(text("SELECT value FROM meta WHERE key = 'schema_version'"), "10");
  EXPECT_EQ(text("SELECT to_regclass('extra')::text"), "<null>");
}

TEST_F(PgStoreTest, RefusesANewerSchema) {
  ASSERT_TRUE(create_or_migrate_pg_schema(db_, "test"));
  ASSERT_TRUE(db_.exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'"));
  auto r = create_or_migrate_pg_schema(db_, "test");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unsupported schema_version 99 (this build reads and writes " +
                                   std::to_string(kPgSchemaVersion) + ")"),
            std::string::npos)
      << r.error().message;
  try {
    PgStore store(options());
    FAIL() << "opened a newer schema";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported schema_version 99"), std::string::npos);
  }
}

TEST_F(PgStoreTest, WritesEveryRowOnceWithTheSqliteColumns) {
  constexpr int kRows = 700;  // several batches and several INSERT statements per batch
  {
    PgStore store(options(100000, 300, 3600000));
    for (int i = 0; i < kRows; ++i) store.consume(ptr(full_trace(i)));
    store.close();
    EXPECT_EQ(store.written(), kRows);
    EXPECT_EQ(store.dropped(), 0);
    EXPECT_EQ(store.queued(), 0);
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests"), kRows);
  EXPECT_EQ(count("SELECT COUNT(DISTINCT request_id) FROM requests"), kRows);
  // One row, column by column (full_trace(7): an error row with a quote and a newline).
  const core::Trace t = full_trace(7);
  auto r = db_.exec(
      "SELECT user_id, error_message, cost_usd, confidence, status, stream, tokens_estimated, "
      "flags, config_version, api, cache, total_us FROM requests WHERE request_id = $1",
      pg::Params().add(t.request_id));
  ASSERT_TRUE(r && r->rows() == 1);
  EXPECT_EQ(r->text(0, 0), t.user);
  EXPECT_EQ(r->text(0, 1), t.error_message);
  EXPECT_EQ(r->real(0, 2), t.cost_usd);
  EXPECT_EQ(r->real(0, 3), t.confidence);
  EXPECT_EQ(r->i64(0, 4), 502);
  EXPECT_EQ(r->i64(0, 5), 1);
  EXPECT_EQ(r->i64(0, 6), 0);
  EXPECT_EQ(r->text(0, 7), "[\"flag_band\",\"" + std::string(core::flag_name(t.flags[1])) + "\"]");
  EXPECT_TRUE(r->is_null(0, 8));  // offline: no config version
  EXPECT_EQ(r->text(0, 9), "chat");
  EXPECT_TRUE(r->is_null(0, 10));
  EXPECT_EQ(r->i64(0, 11), t.total_us);
  // The rollups equal an aggregation of the rows, at every level.
  EXPECT_EQ(count("SELECT SUM(requests) FROM rollup_minute"), kRows);
  EXPECT_EQ(count("SELECT SUM(requests) FROM rollup_hour"), kRows);
  EXPECT_EQ(count("SELECT SUM(requests) FROM rollup_model_minute"), kRows);
  EXPECT_EQ(count("SELECT COUNT(*) FROM (SELECT ts_ms / 60000 AS m, COALESCE(model, '') AS mo, "
                  "COUNT(*) AS n, SUM(total_us) AS t, COUNT(*) FILTER (WHERE status >= 500) AS e "
                  "FROM requests GROUP BY 1, 2) raw FULL JOIN rollup_model_minute r "
                  "ON r.minute = raw.m AND r.model = raw.mo "
                  "WHERE r.requests IS DISTINCT FROM raw.n OR r.total_us IS DISTINCT FROM raw.t "
                  "OR r.server_errors IS DISTINCT FROM raw.e"),
            0);
}

TEST_F(PgStoreTest, FullQueueDropsAndCounts) {
  PgStore store(options(10, 4, 3600000));
  store.hold();
  for (int i = 0; i < 15; ++i) store.consume(ptr(full_trace(i)));
  EXPECT_EQ(store.dropped(), 5);
  EXPECT_EQ(store.queued(), 10);
  store.release();
  store.close();
  EXPECT_EQ(store.written(), 10);
  store.consume(ptr(full_trace(99)));  // after close: dropped, counted
  EXPECT_EQ(store.dropped(), 6);
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests"), 10);
}

TEST_F(PgStoreTest, DuplicateRequestIdIsCountedNotFatal) {
  PgStore store(options(100, 10, 3600000));
  store.consume(ptr(full_trace(1)));
  store.consume(ptr(full_trace(1)));
  store.consume(ptr(full_trace(2)));
  store.close();
  EXPECT_EQ(store.written(), 2);
  EXPECT_EQ(store.dropped(), 1);
  EXPECT_EQ(count("SELECT SUM(requests) FROM rollup_minute"), 2);  // the duplicate is not summed
}

TEST_F(PgStoreTest, ARowPostgresRefusesCostsOnlyThatRow) {
  PgStore store(options(100, 10, 3600000));
  core::Trace bad = full_trace(3);
  bad.user = "bad \xff\xfe utf-8";  // PostgreSQL refuses invalid UTF-8 (SQLite takes it)
  store.consume(ptr(full_trace(1)));
  store.consume(ptr(bad));
  store.consume(ptr(full_trace(2)));
  store.close();
  EXPECT_EQ(store.written(), 2);
  EXPECT_EQ(store.dropped(), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests"), 2);
  EXPECT_EQ(count("SELECT SUM(requests) FROM rollup_hour"), 2);
}

TEST_F(PgStoreTest, CloseDrainsAndFlushWaits) {
  PgStore store(options(100000, 1000, 3600000));  // neither a full batch nor the timer
  for (int i = 0; i < 100; ++i) store.consume(ptr(full_trace(i)));
  ASSERT_TRUE(store.flush(20000));
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests"), 100);
  for (int i = 100; i < 150; ++i) store.consume(ptr(full_trace(i)));
  store.close();
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests"), 150);
  EXPECT_EQ(store.written(), 150);
}

TEST_F(PgStoreTest, ReviewsAndPayloadsAreWrittenAfterTheirRows) {
  PgStore store(options(1000, 10, 3600000));
  core::Trace t = full_trace(4);
  t.keep_payloads = true;
  t.prompt_json = R"([{"role":"user","content":"hi"}])";
  t.response_text = "hello";
  store.consume(ptr(t));
  EXPECT_TRUE(store.enqueue_review({t.request_id, t.time_ms, {core::ReviewFlag::kFlagBand}}));
  store.close();
  EXPECT_EQ(text("SELECT messages FROM prompts"), t.prompt_json);
  EXPECT_EQ(text("SELECT status FROM review_queue WHERE request_id = 'req-4'"), "open");
  EXPECT_EQ(text("SELECT reason FROM review_reasons WHERE request_id = 'req-4'"), "flag_band");
}

TEST_F(PgStoreTest, UnreachableDatabaseFailsAtStartUpWithoutThePassword) {
  PgStoreOptions o = options();
  o.conninfo = "postgres://triage:s3cret@127.0.0.1:1/triage";
  try {
    PgStore store(o);
    FAIL() << "connected to nothing";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("request store postgresql://triage@127.0.0.1:1/triage: cannot connect"),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find("s3cret"), std::string::npos) << msg;
  }
}

// The database goes away under load and comes back: every accepted row is written exactly
// once, the writer reconnects by itself, and consume() never blocked meanwhile.
TEST_F(PgStoreTest, ReconnectsAfterARestartWithoutLosingAcceptedRows) {
  auto& server = shared_pg_server();
  PgStore store(options(100000, 50, 5));
  int next = 0;
  for (; next < 300; ++next) store.consume(ptr(full_trace(next)));
  ASSERT_TRUE(store.flush(20000));
  ASSERT_TRUE(server.stop());
  const auto before = std::chrono::steady_clock::now();
  for (; next < 600; ++next) store.consume(ptr(full_trace(next)));
  const auto consume_time = std::chrono::steady_clock::now() - before;
  EXPECT_LT(consume_time, std::chrono::seconds(1));  // queued, not written: never blocked
  EXPECT_FALSE(store.flush(300));                    // nothing can commit while the server is down
  EXPECT_FALSE(store.connected());
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(store.flush(30000));
  EXPECT_TRUE(store.connected());
  EXPECT_GE(store.reconnects(), 1);
  // And once more with pg_ctl restart while rows are in flight.
  for (; next < 900; ++next) store.consume(ptr(full_trace(next)));
  ASSERT_TRUE(server.restart());
  for (; next < 1000; ++next) store.consume(ptr(full_trace(next)));
  store.close();
  EXPECT_EQ(store.dropped(), 0);
  EXPECT_EQ(store.written(), 1000);
  auto c = pg::Connection::open(conninfo_);
  ASSERT_TRUE(c) << c.error().message;
  db_ = std::move(c.value());
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests"), 1000);
  EXPECT_EQ(count("SELECT SUM(requests) FROM rollup_minute"), 1000);
}

TEST_F(PgStoreTest, CloseGivesUpOnAnAbsentDatabaseAfterTheDrainTimeout) {
  auto& server = shared_pg_server();
  PgStoreOptions o = options(1000, 10, 5);
  o.drain_timeout_ms = 300;
  PgStore store(o);
  ASSERT_TRUE(server.stop());
  for (int i = 0; i < 20; ++i) store.consume(ptr(full_trace(i)));
  store.close();  // returns: the rows are counted as dropped, not silently lost
  EXPECT_EQ(store.written() + store.dropped(), 20);
  EXPECT_EQ(store.dropped(), 20);
  EXPECT_EQ(store.queued(), 0);
  ASSERT_TRUE(server.start());
}

// Measures the writer (prints, asserts nothing about speed): run with
// --gtest_also_run_disabled_tests --gtest_filter='*PgStoreTest*Throughput*'.
TEST_F(PgStoreTest, DISABLED_Throughput) {
  constexpr int kRows = 100000;
  std::vector<core::TracePtr> traces;
  traces.reserve(kRows);
  for (int i = 0; i < kRows; ++i) {
    core::Trace t = full_trace(i);
    t.time_ms = 1700000000000 + i * 7;  // ~12 minutes: many rollup keys, as in production
    traces.push_back(ptr(std::move(t)));
  }
  PgStore store(options(kRows, 512, 200));
  const auto start = std::chrono::steady_clock::now();
  for (const auto& t : traces) store.consume(t);
  const auto consumed = std::chrono::steady_clock::now();
  store.close();
  const auto done = std::chrono::steady_clock::now();
  const double secs = std::chrono::duration<double>(done - start).count();
  std::printf("PgStore: %d rows in %.2f s = %.0f rows/s (consume %.0f ns/row), dropped %lld\n",
              kRows, secs, kRows / secs,
              std::chrono::duration<double, std::nano>(consumed - start).count() / kRows,
              static_cast<long long>(store.dropped()));
  EXPECT_EQ(store.written(), kRows);
}

}  // namespace
}  // namespace triage::telemetry

#include "telemetry/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"
#include "telemetry/trace_json.h"
#include "test_traces.h"

namespace triage::telemetry {
namespace {

namespace fs = std::filesystem;
using testing::full_trace;

core::TracePtr ptr(core::Trace t) { return std::make_shared<const core::Trace>(std::move(t)); }

// A read-only connection to a store's database, opened with the plain C API.
class Db {
 public:
  explicit Db(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  }
  ~Db() { sqlite3_close(db_); }
  sqlite3* get() { return db_; }
  int64_t count(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    int64_t v = -1;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string v = "<none>";
    if (sqlite3_step(s) == SQLITE_ROW) {
      auto* p = sqlite3_column_text(s, 0);
      v = p ? reinterpret_cast<const char*>(p) : "<null>";
    }
    sqlite3_finalize(s);
    return v;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::optional<std::string> col_text(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, i)),
                     static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

std::optional<std::string> opt(const std::string& v) {
  if (v.empty()) return std::nullopt;
  return v;
}

// Waits (with a deadline, not a fixed sleep) until pred() holds; false on timeout.
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class SqliteStoreTest : public ::testing::Test {
 protected:

  SqliteStoreOptions options(int64_t capacity = 100000, int64_t batch = 64,
                             int64_t flush_ms = 3600000) const {
    return SqliteStoreOptions{path_, capacity, batch, flush_ms};
  }

  triage::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
  const std::string path_ = tmp_.file("requests.db");
};

TEST_F(SqliteStoreTest, WritesTracesThatReadBackExactly) {
  constexpr int kN = 1000;
  SqliteStore store(options(100000, 64));
  for (int i = 0; i < kN; ++i) store.consume(ptr(full_trace(i)));
  store.close();
  EXPECT_EQ(store.written(), kN);
  EXPECT_EQ(store.dropped(), 0);
  EXPECT_EQ(store.queued(), 0);

  Db db(path_);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db.get(),
                               "SELECT request_id, ts_ms, api_key_id, cohort, category, user_id, "
                               "requested_model, route, model, tier, provider, stream, tokens_in, "
                               "tokens_out, tokens_estimated, cost_usd, routing_us, queue_us, "
                               "upstream_ttfb_us, upstream_us, overhead_us, total_us, status, "
                               "error_code, error_message, finish_reason, synthesized, label, "
                               "confidence, flags, spans FROM requests ORDER BY ts_ms",
                               -1, &s, nullptr),
            SQLITE_OK);
  int i = 0;
  while (sqlite3_step(s) == SQLITE_ROW) {
    const core::Trace t = full_trace(i);
    SCOPED_TRACE(t.request_id);
    EXPECT_EQ(col_text(s, 0), t.request_id);
    EXPECT_EQ(sqlite3_column_int64(s, 1), t.time_ms);
    EXPECT_EQ(col_text(s, 2), t.api_key_id);
    EXPECT_EQ(col_text(s, 3), t.cohort);
    EXPECT_EQ(col_text(s, 4), t.category);
    EXPECT_EQ(col_text(s, 5), t.user);
    EXPECT_EQ(col_text(s, 6), t.requested_model);
    EXPECT_EQ(col_text(s, 7), t.route);
    EXPECT_EQ(col_text(s, 8), t.model);
    EXPECT_EQ(col_text(s, 9), t.tier);
    EXPECT_EQ(col_text(s, 10), t.provider);
    EXPECT_EQ(sqlite3_column_int(s, 11), t.stream ? 1 : 0);
    EXPECT_EQ(sqlite3_column_int64(s, 12), t.tokens_in);
    EXPECT_EQ(sqlite3_column_int64(s, 13), t.tokens_out);
    EXPECT_EQ(sqlite3_column_int(s, 14), t.tokens_estimated ? 1 : 0);
    EXPECT_EQ(sqlite3_column_double(s, 15), t.cost_usd);
    EXPECT_EQ(sqlite3_column_int64(s, 16), t.routing_us);
    EXPECT_EQ(sqlite3_column_int64(s, 17), t.queue_us);
    EXPECT_EQ(sqlite3_column_int64(s, 18), t.upstream_ttfb_us);
    EXPECT_EQ(sqlite3_column_int64(s, 19), t.upstream_us);
    EXPECT_EQ(sqlite3_column_int64(s, 20), t.overhead_us);
    EXPECT_EQ(sqlite3_column_int64(s, 21), t.total_us);
    EXPECT_EQ(sqlite3_column_int(s, 22), t.http_status);
    EXPECT_EQ(col_text(s, 23), opt(t.error_code));
    EXPECT_EQ(col_text(s, 24), opt(t.error_message));
    EXPECT_EQ(col_text(s, 25), t.finish_reason);
    EXPECT_EQ(sqlite3_column_int(s, 26), t.synthesized ? 1 : 0);
    EXPECT_EQ(col_text(s, 27), t.label);
    EXPECT_EQ(sqlite3_column_double(s, 28), t.confidence);
    EXPECT_EQ(col_text(s, 29), flags_json(t.flags));
    EXPECT_EQ(col_text(s, 30), spans_json(t.spans));
    ++i;
  }
  sqlite3_finalize(s);
  EXPECT_EQ(i, kN);
}

TEST_F(SqliteStoreTest, EmptyOptionalFieldsAreNull) {
  SqliteStore store(options());
  core::Trace t;
  t.request_id = "bare";
  t.http_status = 400;
  store.consume(ptr(t));
  store.close();
  Db db(path_);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM requests WHERE request_id = 'bare' AND route IS NULL "
                     "AND model IS NULL AND error_code IS NULL AND label IS NULL AND confidence "
                     "IS NULL AND flags = '[]' AND spans = '[]' AND status = 400"),
            1);
}

TEST_F(SqliteStoreTest, SpansAreCompactJson) {
  SqliteStore store(options());
  store.consume(ptr(full_trace(7)));  // a 502 with an error on its model call
  store.close();
  Db db(path_);
  const std::string spans = db.text("SELECT spans FROM requests");
  EXPECT_EQ(spans.find(' '), std::string::npos) << spans;
  const boost::json::array arr = boost::json::parse(spans).as_array();
  ASSERT_EQ(arr.size(), 2u);
  EXPECT_EQ(arr[0].at("kind").as_string(), "route");
  EXPECT_EQ(arr[0].at("detail").as_string(), "classify/1");
  const auto& call = arr[1].as_object();
  EXPECT_EQ(call.at("kind").as_string(), "model_call");
  EXPECT_EQ(call.at("name").as_string(), "large");
  EXPECT_EQ(call.at("tokens_in").as_int64(), 107);
  EXPECT_EQ(call.at("ttfb_us").as_int64(), 307);
  EXPECT_EQ(call.at("cost_usd").to_number<double>(), 1.0);
  EXPECT_FALSE(call.at("ok").as_bool());
  EXPECT_EQ(call.at("error").as_string(), "upstream_error");
  EXPECT_EQ(boost::json::parse(db.text("SELECT flags FROM requests")),
            boost::json::parse(R"(["flag_band","shadow"])"));  // trace 7: all_flags()[7]
  // SQLite's JSON functions can query it.
  EXPECT_EQ(db.count("SELECT SUM(json_extract(value, '$.tokens_out')) FROM requests, "
                     "json_each(requests.spans)"),
            27);
}

TEST_F(SqliteStoreTest, CloseFlushesEverythingQueued) {
  SqliteStore store(options(1000, 1000));  // neither batch size nor timer can trigger a write
  store.hold();
  for (int i = 0; i < 100; ++i) store.consume(ptr(full_trace(i)));
  EXPECT_EQ(store.queued(), 100);
  EXPECT_EQ(store.written(), 0);
  store.close();
  EXPECT_EQ(store.queued(), 0);
  EXPECT_EQ(store.written(), 100);
  EXPECT_EQ(store.dropped(), 0);
  store.close();  // idempotent
  EXPECT_EQ(store.written(), 100);
  Db db(path_);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM requests"), 100);
}

TEST_F(SqliteStoreTest, ConsumeAfterCloseIsCountedAsDropped) {
  SqliteStore store(options());
  store.close();
  store.consume(ptr(full_trace(1)));
  EXPECT_EQ(store.dropped(), 1);
  EXPECT_EQ(store.queued(), 0);
  EXPECT_EQ(store.written(), 0);
}

TEST_F(SqliteStoreTest, FullQueueCountsDrops) {
  SqliteStore store(options(4, 64));
  store.hold();
  for (int i = 0; i < 10; ++i) store.consume(ptr(full_trace(i)));
  EXPECT_EQ(store.queued(), 4);
  EXPECT_EQ(store.dropped(), 6);
  store.release();
  store.close();
  EXPECT_EQ(store.written(), 4);
  EXPECT_EQ(store.dropped(), 6);
  Db db(path_);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM requests WHERE request_id IN "
                     "('req-0', 'req-1', 'req-2', 'req-3')"),
            4);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM requests"), 4);
}

TEST_F(SqliteStoreTest, FullBatchIsWrittenWithoutWaitingForTheTimer) {
  SqliteStore store(options(1000, 10, 3600000));  // the timer alone would wait an hour
  for (int i = 0; i < 10; ++i) store.consume(ptr(full_trace(i)));
  EXPECT_TRUE(eventually([&] { return store.written() == 10; })) << store.written();
  store.close();
}

TEST_F(SqliteStoreTest, PartialBatchIsWrittenAfterFlushInterval) {
  SqliteStore store(options(1000, 1000, 5));
  for (int i = 0; i < 3; ++i) store.consume(ptr(full_trace(i)));
  EXPECT_TRUE(eventually([&] { return store.written() == 3; })) << store.written();
  store.consume(ptr(full_trace(3)));  // the timer restarts for a later row
  EXPECT_TRUE(eventually([&] { return store.written() == 4; })) << store.written();
  store.close();
}

// A lagging writer takes everything queued at once: each trace is freed right after its row,
// between paced rows, not all together once the last transaction commits (docs/performance.md).
TEST_F(SqliteStoreTest, ATraceIsFreedAsSoonAsItsRowIsWritten) {
  constexpr int kBatch = 64, kTraces = 200;  // four transactions: 64, 64, 64, 8
  SqliteStore store(options(1000, kBatch));
  std::vector<int64_t> written_when_freed(kTraces, -1);  // set on the writer thread
  store.hold();
  for (int i = 0; i < kTraces; ++i) {
    store.consume(core::TracePtr(new core::Trace(full_trace(i)), [&, i](const core::Trace* t) {
      written_when_freed[static_cast<size_t>(i)] = store.written();
      delete t;
    }));
  }
  store.release();
  ASSERT_TRUE(store.flush(20000));
  store.close();
  EXPECT_EQ(store.written(), kTraces);
  for (int i = 0; i < kTraces; ++i) {
    // Freed inside its own transaction: only the earlier transactions were settled.
    EXPECT_EQ(written_when_freed[static_cast<size_t>(i)], i / kBatch * kBatch) << "trace " << i;
  }
}

TEST_F(SqliteStoreTest, DuplicateRequestIdIsCountedNotFatal) {
  SqliteStore store(options());
  store.consume(ptr(full_trace(1)));
  store.consume(ptr(full_trace(1)));
  store.consume(ptr(full_trace(2)));
  store.close();
  EXPECT_EQ(store.written(), 2);
  EXPECT_EQ(store.dropped(), 1);
}

TEST_F(SqliteStoreTest, FourProducersGiveExactTotals) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  SqliteStore store(options(100000, 128, 2));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < kPerThread; ++i) store.consume(ptr(full_trace(t * kPerThread + i)));
    });
  }
  for (auto& th : threads) th.join();
  store.close();
  EXPECT_EQ(store.written(), kThreads * kPerThread);
  EXPECT_EQ(store.dropped(), 0);
  Db db(path_);
  EXPECT_EQ(db.count("SELECT COUNT(DISTINCT request_id) FROM requests"), kThreads * kPerThread);
}

TEST_F(SqliteStoreTest, UsesWalAndRecordsSchemaVersion) {
  { SqliteStore store(options()); }
  { SqliteStore store(options()); }  // reopening must not bring back dropped indexes
  Db db(path_);
  EXPECT_EQ(db.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.text("SELECT value FROM meta WHERE key = 'schema_version'"),
            std::to_string(SqliteStore::kSchemaVersion));  // v1 to v10 migrated
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'leases'"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM pragma_table_info('knob_events') "
                     "WHERE name = 'replica'"),
            1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('rollouts', 'rollout_events')"), 2);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'slo_state'"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'window_slices'"), 1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                     "('requests_ts_ms', 'requests_model_ts_ms', 'requests_route_ts_ms')"),
            1);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('requests_status', "
                     "'requests_dashboard')"),
            0);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'rollup_minute'"), 1);
}

TEST_F(SqliteStoreTest, RecordsTheClientApi) {
  {
    SqliteStore store(options());
    core::Trace responses = full_trace(1);
    responses.api = core::ClientApi::kResponses;
    core::Trace embeddings = full_trace(2);
    embeddings.api = core::ClientApi::kEmbeddings;
    store.consume(ptr(std::move(responses)));
    store.consume(ptr(std::move(embeddings)));
    store.consume(ptr(full_trace(3)));
  }
  Db db(path_);
  EXPECT_EQ(db.text("SELECT GROUP_CONCAT(api, ',') FROM (SELECT api FROM requests ORDER BY ts_ms)"),
            "responses,embeddings,chat");
}

TEST_F(SqliteStoreTest, AVersion5StoreGainsTheApiColumnAndKeepsItsRows) {
  {
    SqliteStore store(options());
    store.consume(ptr(full_trace(1)));
  }
  // Back to what a version-5 build wrote: no `api` column.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "ALTER TABLE requests DROP COLUMN api; "
                         "UPDATE meta SET value = '5' WHERE key = 'schema_version'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(raw);
  sqlite3_close(raw);
  {
    SqliteStore store(options());
    core::Trace messages = full_trace(2);
    messages.api = core::ClientApi::kMessages;
    store.consume(ptr(std::move(messages)));
  }
  Db db(path_);
  EXPECT_EQ(db.text("SELECT value FROM meta WHERE key = 'schema_version'"),
            std::to_string(SqliteStore::kSchemaVersion));
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM requests"), 2);
  // The old row has no api (read as chat); the new one has its own.
  EXPECT_EQ(db.text("SELECT GROUP_CONCAT(COALESCE(api, 'null'), ',') FROM "
                    "(SELECT api FROM requests ORDER BY ts_ms)"),
            "null,messages");
  EXPECT_EQ(core::client_api_from_name(""), core::ClientApi::kChat);
  EXPECT_EQ(core::client_api_from_name("messages"), core::ClientApi::kMessages);
}

TEST_F(SqliteStoreTest, ReopensAnExistingDatabaseAndAppends) {
  {
    SqliteStore store(options());
    store.consume(ptr(full_trace(1)));
  }  // the destructor closes, which flushes
  {
    SqliteStore store(options());
    store.consume(ptr(full_trace(2)));
  }
  Db db(path_);
  EXPECT_EQ(db.count("SELECT COUNT(*) FROM requests"), 2);
}

TEST_F(SqliteStoreTest, RefusesANewerSchema) {
  { SqliteStore store(options()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  try {
    SqliteStore store(options());
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema_version 99"), std::string::npos) << e.what();
  }
}

TEST_F(SqliteStoreTest, UnopenablePathThrowsNamingIt) {
  const std::string bad = dir_ + "/no/such/dir/requests.db";
  try {
    SqliteStore store(SqliteStoreOptions{bad, 10, 10, 10});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

TEST_F(SqliteStoreTest, RejectsNonsenseOptions) {
  EXPECT_THROW(SqliteStore(SqliteStoreOptions{path_, 0, 10, 10}), std::runtime_error);
  EXPECT_THROW(SqliteStore(SqliteStoreOptions{path_, 10, 0, 10}), std::runtime_error);
}

TEST(TraceJson, EscapesStrings) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\nd\x01\xc3\xa9", 10));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9\"");
  EXPECT_EQ(flags_json({}), "[]");
  EXPECT_EQ(spans_json({}), "[]");
  EXPECT_EQ(boost::json::parse(out).as_string(), std::string("a\"b\\c\nd\x01\xc3\xa9", 10));
}

// A cascade's route span carries its typed record; no other span has the key.
TEST(TraceJson, CascadeRecordIsATypedKey) {
  core::Span route;
  route.kind = core::SpanKind::kRoute;
  route.name = "support";
  route.detail = "cascade/1: step 0 'small' rejected (x); step 1 'large' failed (upstream_error)";
  route.cascade = core::CascadeStop{1, "large", core::CascadeOutcome::kFailed};
  core::Span call;
  call.name = "large";
  const boost::json::value v = boost::json::parse(spans_json({route, call}));
  const boost::json::object& c = v.at(0).at("cascade").as_object();
  EXPECT_EQ(c.at("step").as_int64(), 1);
  EXPECT_EQ(std::string(c.at("route").as_string()), "large");
  EXPECT_EQ(std::string(c.at("outcome").as_string()), "failed");
  EXPECT_FALSE(v.at(1).as_object().contains("cascade"));
  for (auto o : {core::CascadeOutcome::kAccepted, core::CascadeOutcome::kFinalChecksFailed,
                 core::CascadeOutcome::kFailed, core::CascadeOutcome::kCancelled}) {
    EXPECT_EQ(parse_cascade_outcome(cascade_outcome_name(o)), o);
  }
  EXPECT_FALSE(parse_cascade_outcome("skipped").has_value());
}

// A decide-only shadow's route span carries the model it would have picked as a typed key; no
// other span has the key.
TEST(TraceJson, ShadowDecisionIsATypedKey) {
  core::Span route;
  route.kind = core::SpanKind::kRoute;
  route.name = "router";
  route.detail = "shadow decision: cheap (weak, p=0.210, t=0.500)";
  route.shadow_decision = "cheap";
  core::Span call;
  call.name = "big";
  const boost::json::value v = boost::json::parse(spans_json({route, call}));
  EXPECT_EQ(std::string(v.at(0).at(kShadowDecisionSpanKey).as_string()), "cheap");
  EXPECT_EQ(std::string(v.at(0).at("detail").as_string()), route.detail);  // kept for people
  EXPECT_FALSE(v.at(1).as_object().contains(kShadowDecisionSpanKey));
}

// A router decision names the router version that made it; a shadow candidate's derived trace
// says whether it agreed with the primary; both typed keys, absent on every other span, and
// stored in the requests table as written.
TEST(TraceJson, RouterVersionAndShadowAgreementAreTypedKeys) {
  core::Span route;
  route.kind = core::SpanKind::kRoute;
  route.name = "router";
  route.detail = "p=0.800 -> strong (t=0.500, threshold/1)";
  route.router_version = "r-0f228df4";
  core::Span shadow;
  shadow.kind = core::SpanKind::kRoute;
  shadow.name = "chat";
  shadow.agrees = false;
  core::Span call;
  call.name = "big";
  const boost::json::value v = boost::json::parse(spans_json({route, shadow, call}));
  EXPECT_EQ(std::string(v.at(0).at(kRouterVersionSpanKey).as_string()), "r-0f228df4");
  EXPECT_FALSE(v.at(0).as_object().contains(kAgreesSpanKey));
  EXPECT_EQ(v.at(1).at(kAgreesSpanKey).as_bool(), false);
  EXPECT_FALSE(v.at(1).as_object().contains(kRouterVersionSpanKey));
  EXPECT_FALSE(v.at(2).as_object().contains(kRouterVersionSpanKey));
  EXPECT_FALSE(v.at(2).as_object().contains(kAgreesSpanKey));
  shadow.agrees = true;
  EXPECT_EQ(boost::json::parse(spans_json({shadow})).at(0).at(kAgreesSpanKey).as_bool(),
            true);
}

TEST_F(SqliteStoreTest, StoresTheRouterVersionOfADecision) {
  SqliteStore store(options());
  core::Trace t = full_trace(1);
  t.spans[0].router_version = "r-0f228df4";
  store.consume(ptr(t));
  store.close();
  Db db(path_);
  const boost::json::value stored = boost::json::parse(db.text("SELECT spans FROM requests"));
  EXPECT_EQ(std::string(stored.at(0).at(kRouterVersionSpanKey).as_string()), "r-0f228df4");
  EXPECT_FALSE(stored.at(1).as_object().contains(kRouterVersionSpanKey));
}

// Throughput of the writer thread, printed, not asserted. Run with
//   unit_telemetry --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
// "legacy indexes": the same with the two indexes schema v3 dropped (requests_status and the
// dashboard's wide covering index), i.e. what each row cost the writer before the rollup.
void run_throughput(const SqliteStoreOptions& options, bool legacy_indexes) {
  constexpr int kN = 200000;
  std::vector<core::TracePtr> traces;
  traces.reserve(kN);
  for (int i = 0; i < kN; ++i) traces.push_back(ptr(full_trace(i)));
  if (legacy_indexes) {
    { SqliteStore create(options); }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(options.path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE INDEX requests_status ON requests(status); "
                           "CREATE INDEX requests_dashboard ON requests(ts_ms, status, cost_usd, "
                           "tokens_in, tokens_out, model, tier, route, category, cohort, "
                           "total_us, routing_us, queue_us, upstream_ttfb_us, upstream_us, "
                           "overhead_us, error_code, confidence)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  SqliteStore store(options);
  const std::clock_t cpu0 = std::clock();  // process CPU: the machine may be shared
  const auto start = std::chrono::steady_clock::now();
  for (const auto& t : traces) store.consume(t);
  const auto queued = std::chrono::steady_clock::now();
  store.close();
  const auto end = std::chrono::steady_clock::now();
  const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  const double s = std::chrono::duration<double>(end - start).count();
  const double c = std::chrono::duration<double>(queued - start).count();
  std::printf(
      "%s: consume: %.0f ns/trace; writer: %d rows in %.3f s wall = %.0f rows/s; "
      "%.3f s CPU = %.0f rows per CPU-second\n",
      legacy_indexes ? "with legacy indexes" : "schema v3", c * 1e9 / kN, kN, s, kN / s, cpu,
      kN / cpu);
  EXPECT_EQ(store.written(), kN);
}

TEST_F(SqliteStoreTest, DISABLED_Throughput) { run_throughput(options(200000, 512, 200), false); }

TEST_F(SqliteStoreTest, DISABLED_ThroughputWithLegacyIndexes) {
  run_throughput(options(200000, 512, 200), true);
}

}  // namespace
}  // namespace triage::telemetry

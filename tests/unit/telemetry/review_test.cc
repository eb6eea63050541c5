// Review queue intake (rules, sampling), schema v1 -> v2 migration, the store's review writes
// and flush(), and ReviewDb (feedback, labels, pagination, detail).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "telemetry/review_db.h"
#include "telemetry/store_reader.h"
#include "telemetry/review_sink.h"
#include "support/store_backends.h"
#include "telemetry/sqlite_store.h"
#include "test_traces.h"

namespace triage::telemetry {
namespace {

// The review queue of the store at `path`, with the review API's durable writes.
std::unique_ptr<StoreReader> review_db(const std::string& path, bool negative_feedback) {
  StoreReaderOptions o;
  o.review_writes = true;
  o.negative_feedback_enqueues = negative_feedback;
  auto r = open_store_reader(path, o);
  if (!r) ADD_FAILURE() << r.error().message;
  return r ? std::move(r.value()) : nullptr;
}

namespace fs = std::filesystem;
using F = core::ReviewFlag;

core::Trace trace(const std::string& id, const std::string& tier,
                  std::vector<F> flags = {}, int status = 200) {
  core::Trace t;
  t.request_id = id;
  t.time_ms = 1700000000000;
  t.tier = tier;
  t.model = tier + "-model";
  t.http_status = status;
  if (status >= 400) t.error_code = "upstream_error";
  t.flags = std::move(flags);
  return t;
}

ReviewRules rules(double sample = 0.0, std::vector<F> flags = {F::kFlagBand, F::kCascaded}) {
  config::ReviewConfig rc;
  rc.flags = std::move(flags);
  rc.sample_large = sample;
  return ReviewRules(rc, "large");
}

TEST(ReviewRules, ConfiguredFlagsBecomeReasonsInConfigOrder) {
  auto r = rules(0.0, {F::kCascaded, F::kFlagBand});
  EXPECT_EQ(r.decide(trace("a", "small", {F::kFlagBand, F::kCascaded, F::kLowConfidence})),
            (std::vector<F>{F::kCascaded, F::kFlagBand}));
  EXPECT_TRUE(r.decide(trace("b", "small", {F::kEscalated})).empty());  // not configured
  EXPECT_TRUE(r.decide(trace("c", "small")).empty());
  // A failed request still enters for its flags.
  EXPECT_EQ(r.decide(trace("d", "small", {F::kCascaded}, 502)), (std::vector<F>{F::kCascaded}));
}

TEST(ReviewRules, SamplesOnlySuccessfulTopTierCalls) {
  auto all = rules(1.0);
  EXPECT_EQ(all.decide(trace("a", "large")), (std::vector<F>{F::kSampleLarge}));
  EXPECT_TRUE(all.decide(trace("a", "small")).empty());
  EXPECT_TRUE(all.decide(trace("a", "large", {}, 500)).empty());
  EXPECT_TRUE(rules(0.0).decide(trace("a", "large")).empty());
  EXPECT_EQ(all.decide(trace("a", "large", {F::kFlagBand})),
            (std::vector<F>{F::kFlagBand, F::kSampleLarge}));
}

TEST(ReviewRules, SamplingIsDeterministicPerIdAndNearTheShare) {
  int in = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string id = "req_" + std::to_string(i * 7919);
    const bool s = ReviewRules::sampled(id, 0.1);
    EXPECT_EQ(s, ReviewRules::sampled(id, 0.1));  // same answer every time
    if (s) {
      ++in;
      EXPECT_TRUE(ReviewRules::sampled(id, 0.2)) << "a larger share must keep the sample";
    }
  }
  EXPECT_GT(in, 1700);
  EXPECT_LT(in, 2300);
  EXPECT_FALSE(ReviewRules::sampled("req_x", 0.0));
  EXPECT_TRUE(ReviewRules::sampled("req_x", 1.0));
}

// The store's review writes and ReviewDb, on every backend (store_backends.h).
class ReviewStoreTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    TRIAGE_SKIP_UNLESS_BACKEND(GetParam());
    backend_ = std::make_unique<testing::BackendStore>(GetParam());
    path_ = backend_->location();
  }
  void TearDown() override { backend_.reset(); }

  std::unique_ptr<RequestStore> open_store() { return backend_->open_writer(100000, 64, 3600000); }
  int64_t count(const std::string& sql) { return backend_->count(sql); }
  void exec(const std::string& sql) { backend_->exec(sql); }
  // A request row for `id` at time ts (i.e. queued and committed).
  static core::TracePtr row(const std::string& id, int64_t ts, const std::string& tier = "small",
                            bool payload = false) {
    core::Trace t = trace(id, tier);
    t.time_ms = ts;
    t.category = ts % 2 == 0 ? "even" : "odd";
    if (payload) {
      t.keep_payloads = true;
      t.prompt_json = R"([{"role":"user","content":"what is 2+2?"}])";
      t.response_text = "4";
      core::Span a;
      a.kind = core::SpanKind::kModelCall;
      a.name = "small-model";
      a.tier = "small";
      a.output = "5";
      a.ok = true;
      core::Span b = a;
      b.name = "large-model";
      b.tier = "large";
      b.output = "4";
      t.spans = {a, b};
    }
    return std::make_shared<const core::Trace>(std::move(t));
  }

  std::unique_ptr<testing::BackendStore> backend_;
  std::string path_;  // the store's location (a file, or a postgres:// URI)
};

TRIAGE_ON_EVERY_BACKEND(ReviewStoreTest);

// What only SQLite has: its own migrations from version 1 and its query plans.
class ReviewSqliteStoreTest : public ReviewStoreTest {};
INSTANTIATE_TEST_SUITE_P(Sqlite, ReviewSqliteStoreTest, ::testing::Values(testing::Backend::kSqlite),
                         testing::backend_name);

TEST_P(ReviewSqliteStoreTest, MigratesAVersion1FileKeepingItsRows) {
  {
    auto store = open_store();
    store->consume(row("req_old", 5));
    store->close();
  }
  // Make it a version-1 file again: no v2 tables, version 1.
  exec("DROP TABLE review_queue; DROP TABLE review_reasons; DROP TABLE feedback; "
       "DROP TABLE labels; DROP TABLE prompts; UPDATE meta SET value = '1' "
       "WHERE key = 'schema_version';");
  ASSERT_EQ(count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'labels'"), 0);
  {
    auto store = open_store();
    EXPECT_EQ(store->name(), "sqlite/3");
    store->close();
  }
  EXPECT_EQ(count("SELECT value FROM meta WHERE key = 'schema_version'"),
            SqliteStore::kSchemaVersion);
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests WHERE request_id = 'req_old'"), 1);
  for (const char* t : {"review_queue", "review_reasons", "feedback", "labels", "prompts"}) {
    EXPECT_EQ(count(std::string("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '") +
                    t + "'"),
              1)
        << t;
  }
}

TEST_P(ReviewStoreTest, SinkQueuesChosenRequestsAfterTheirRows) {
  auto store = open_store();
  ReviewSink sink(rules(0.0), *store);
  for (int i = 0; i < 10; ++i) {
    core::Trace t = trace("req_" + std::to_string(i), "small", i % 3 == 0 ? std::vector<F>{F::kFlagBand} : std::vector<F>{});
    auto p = std::make_shared<const core::Trace>(std::move(t));
    store->consume(p);
    sink.consume(p);
  }
  ASSERT_TRUE(store->flush(10000));
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests"), 10);
  EXPECT_EQ(count("SELECT COUNT(*) FROM review_queue WHERE status = 'open'"), 4);  // 0,3,6,9
  EXPECT_EQ(count("SELECT COUNT(*) FROM review_reasons WHERE reason = 'flag_band'"), 4);
  EXPECT_EQ(store->dropped(), 0);
}

TEST_P(ReviewStoreTest, FlushWaitsForTheWriterAndTimesOutWhileHeld) {
  auto store = open_store();  // flush interval of an hour: only flush() makes it write now
  testing::BackendStore::hold(*store, true);
  store->consume(row("req_a", 1));
  EXPECT_FALSE(store->flush(50));
  testing::BackendStore::hold(*store, false);
  EXPECT_TRUE(store->flush(10000));
  EXPECT_EQ(count("SELECT COUNT(*) FROM requests"), 1);
  EXPECT_TRUE(store->flush(10));  // nothing queued
}

TEST_P(ReviewStoreTest, PayloadsAreStoredOnlyWhenKept) {
  auto store = open_store();
  store->consume(row("req_p", 1, "large", true));
  store->consume(row("req_n", 2));
  ASSERT_TRUE(store->flush(10000));
  EXPECT_EQ(count("SELECT COUNT(*) FROM prompts"), 1);
  auto db = review_db(path_, true);
  auto d = db->detail("req_p");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->has_payload);
  EXPECT_EQ(d->messages_json, R"([{"role":"user","content":"what is 2+2?"}])");
  EXPECT_EQ(d->response, "4");
  EXPECT_EQ(d->attempts_json,
            R"([{"model":"small-model","tier":"small","ok":true,"output":"5"},)"
            R"({"model":"large-model","tier":"large","ok":true,"output":"4"}])");
  auto n = db->detail("req_n");
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->has_payload);
}

TEST_P(ReviewStoreTest, FeedbackNeedsARequestAndNegativeFeedbackEnqueues) {
  auto store = open_store();
  store->consume(row("req_1", 10));
  store->consume(row("req_2", 20));
  ASSERT_TRUE(store->flush(10000));
  auto db = review_db(path_, true);

  auto missing = db->add_feedback({"req_nope", 1.0, "up", "", "", ""}, 100);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  bool enqueued = true;
  auto up = db->add_feedback({"req_1", 1.0, "up", "", "great", ""}, 100, &enqueued);
  ASSERT_TRUE(up.ok());
  EXPECT_FALSE(enqueued);
  auto down = db->add_feedback({"req_2", 0.2, "", "the answer is 4", "", ""}, 101, &enqueued);
  ASSERT_TRUE(down.ok());
  EXPECT_TRUE(enqueued);
  EXPECT_EQ(count("SELECT COUNT(*) FROM feedback"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM review_reasons WHERE reason = 'negative_feedback' AND "
                  "request_id = 'req_2'"),
            1);

  auto no_enqueue = review_db(path_, false);
  ASSERT_TRUE(no_enqueue->add_feedback({"req_1", 0.0, "down", "", "", ""}, 102, &enqueued).ok());
  EXPECT_FALSE(enqueued);
}

TEST_P(ReviewStoreTest, LabelsCloseTheQueueEntryOrAddAManualOne) {
  auto store = open_store();
  ReviewSink sink(rules(0.0), *store);
  auto flagged = std::make_shared<const core::Trace>(trace("req_f", "small", {F::kCascaded}));
  store->consume(flagged);
  sink.consume(flagged);
  store->consume(row("req_m", 5));
  ASSERT_TRUE(store->flush(10000));
  auto db = review_db(path_, true);
  ASSERT_TRUE(db->add_label({"req_f", "correct", "small", "", "ann"}, 200).ok());
  ASSERT_TRUE(db->add_label({"req_m", "incorrect", "large", "fixed", "bob"}, 201).ok());
  EXPECT_FALSE(db->add_label({"req_x", "correct", "", "", ""}, 202).ok());
  EXPECT_EQ(count("SELECT COUNT(*) FROM review_queue WHERE status = 'labeled'"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM review_reasons WHERE request_id = 'req_f' AND reason = 'manual'"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM review_reasons WHERE request_id = 'req_m' AND reason = 'manual'"), 1);
  auto d = db->detail("req_m");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->labels.size(), 1u);
  EXPECT_EQ(d->labels[0].verdict, "incorrect");
  EXPECT_EQ(d->labels[0].sufficient_tier, "large");
  EXPECT_EQ(d->labels[0].corrected_answer, "fixed");
  EXPECT_EQ(d->item.status, "labeled");
}

TEST_P(ReviewStoreTest, ListPaginatesNewestFirstWithoutGapsOrRepeats) {
  auto store = open_store();
  for (int i = 0; i < 25; ++i) {
    // Two requests share each timestamp, so the cursor's tie-break on the id matters.
    core::Trace t = trace("req_" + std::string(1, static_cast<char>('a' + i)), "small",
                          {i % 2 == 0 ? F::kFlagBand : F::kCascaded});
    t.time_ms = 1000 + i / 2;
    auto p = std::make_shared<const core::Trace>(std::move(t));
    store->consume(p);
    ReviewSink(rules(0.0), *store).consume(p);
  }
  ASSERT_TRUE(store->flush(10000));
  auto db = review_db(path_, true);
  std::vector<std::string> seen;
  ReviewQuery q;
  q.limit = 10;
  int pages = 0;
  for (;;) {
    auto page = db->list(q);
    ASSERT_TRUE(page.ok()) << page.error().internal;
    ++pages;
    for (const auto& it : page->items) seen.push_back(it.request_id);
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 25u);
  EXPECT_EQ(seen.front(), "req_y");  // newest: time 1012
  EXPECT_EQ(seen.back(), "req_a");

  ReviewQuery by_reason;
  by_reason.reason = "cascaded";
  by_reason.limit = 100;
  auto c = db->list(by_reason);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->items.size(), 12u);
  for (const auto& it : c->items) EXPECT_EQ(it.reasons, std::vector<std::string>{"cascaded"});

  ASSERT_TRUE(db->add_label({"req_b", "correct", "", "", ""}, 1).ok());
  EXPECT_EQ(db->list(by_reason)->items.size(), 11u);  // open only by default
  by_reason.status = "labeled";
  EXPECT_EQ(db->list(by_reason)->items.size(), 1u);
  by_reason.status = "all";
  EXPECT_EQ(db->list(by_reason)->items.size(), 12u);

  ReviewQuery bad;
  bad.cursor = "nonsense";
  EXPECT_EQ(db->list(bad).error().code, ErrorCode::kInvalidRequest);
  bad.cursor.clear();
  bad.status = "closed";
  EXPECT_EQ(db->list(bad).error().code, ErrorCode::kInvalidRequest);
}

// The pagination queries must walk an index in order (no full sort), or a million-row queue
// would be slow: check SQLite's plan.
TEST_P(ReviewSqliteStoreTest, ListQueriesUseIndexesNotSorts) {
  open_store()->close();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto plan = [&](const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &s, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string all;
    while (s && sqlite3_step(s) == SQLITE_ROW) {
      all += reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
      all += "\n";
    }
    sqlite3_finalize(s);
    return all;
  };
  const std::string by_status = plan(
      "SELECT k.request_id FROM review_queue k JOIN requests r ON r.request_id = k.request_id "
      "WHERE (k.ts_ms < 5 OR (k.ts_ms = 5 AND k.request_id < 'x')) AND k.status = 'open' "
      "ORDER BY k.ts_ms DESC, k.request_id DESC LIMIT 51");
  EXPECT_EQ(by_status.find("TEMP B-TREE"), std::string::npos) << by_status;
  EXPECT_NE(by_status.find("review_queue_status_ts"), std::string::npos) << by_status;
  const std::string by_reason = plan(
      "SELECT k.request_id FROM review_reasons k JOIN review_queue q ON q.request_id = "
      "k.request_id JOIN requests r ON r.request_id = k.request_id WHERE k.reason = 'a' AND "
      "(k.ts_ms < 5 OR (k.ts_ms = 5 AND k.request_id < 'x')) AND q.status = 'open' "
      "ORDER BY k.ts_ms DESC, k.request_id DESC LIMIT 51");
  EXPECT_EQ(by_reason.find("TEMP B-TREE"), std::string::npos) << by_reason;
  sqlite3_close(db);
}


// Keys created through the admin API (telemetry/key_db.h): stored with their digest only, read
// back after a reopen, disabled and deleted durably.
TEST_P(ReviewStoreTest, KeysRoundTripThroughTheStore) {
  {
    auto store = open_store();
    store->close();
  }
  StoredKey k;
  k.id = "key_0123456789ab";
  k.sha256_hex = std::string(64, 'a');
  k.name = "team-a";
  k.routes = {"support", "billing"};
  k.models = {};
  k.cohort = "search";
  k.requests_per_minute = 60;
  k.usd_per_day = 2.5;
  k.created_ms = k.updated_ms = 1700000000000;
  {
    auto db = review_db(path_, false);
    ASSERT_TRUE(db->insert_key(k).ok());
    EXPECT_FALSE(db->insert_key(k).ok()) << "an id is stored once";
  }
  auto db = review_db(path_, false);
  auto keys = db->list_keys();
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 1u);
  const StoredKey& back = keys->front();
  EXPECT_EQ(back.name, "team-a");
  EXPECT_EQ(back.sha256_hex, k.sha256_hex);
  EXPECT_EQ(back.routes, k.routes);
  EXPECT_TRUE(back.models.empty());
  EXPECT_EQ(back.requests_per_minute, 60);
  EXPECT_DOUBLE_EQ(back.usd_per_day, 2.5);
  EXPECT_FALSE(back.disabled);
  ASSERT_TRUE(db->set_key_disabled(k.id, true, 1700000001000).ok());
  EXPECT_TRUE(db->list_keys()->front().disabled);
  EXPECT_EQ(db->set_key_disabled("key_nope", true, 1).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(db->delete_key(k.id).ok());
  EXPECT_TRUE(db->list_keys()->empty());
  EXPECT_EQ(db->delete_key(k.id).error().code, ErrorCode::kNotFound);
}

// Feedback with a client key finds only that key's requests.
TEST_P(ReviewStoreTest, FeedbackWithAKeyOnlyOnItsOwnRequests) {
  {
    auto store = open_store();
    core::Trace t = trace("req_mine", "small");
    t.api_key_id = "key_aaaaaaaaaaaa";
    store->consume(std::make_shared<const core::Trace>(t));
    store->close();
  }
  auto db = review_db(path_, false);
  FeedbackInput in;
  in.request_id = "req_mine";
  in.score = 1.0;
  in.api_key_id = "key_bbbbbbbbbbbb";
  EXPECT_EQ(db->add_feedback(in, 1700000000000).error().code, ErrorCode::kNotFound);
  in.api_key_id = "key_aaaaaaaaaaaa";
  EXPECT_TRUE(db->add_feedback(in, 1700000000000).ok());
  in.api_key_id.clear();  // an operator
  EXPECT_TRUE(db->add_feedback(in, 1700000000000).ok());
}

}  // namespace
}  // namespace triage::telemetry

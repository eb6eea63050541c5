// SqliteStoreReader::scan_traffic: the shadow decision comes from the typed span key, and from
// the display detail only for rows written before that key existed (the legacy path).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "telemetry/sqlite_store.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {
namespace {

namespace fs = std::filesystem;

class TrafficScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / "triage-traffic-XXXXXX").string();
    ASSERT_NE(mkdtemp(dir_.data()), nullptr);
    path_ = (fs::path(dir_) / "triage.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the traces through the store's own writer.
  void write(std::vector<core::Trace> traces) {
    SqliteStore store(SqliteStoreOptions{path_, 1000, 64, 3600000});
    for (core::Trace& t : traces) store.consume(std::make_shared<const core::Trace>(std::move(t)));
    store.close();
  }

  // Replaces a row's spans column with `spans` (JSON as an older build wrote it).
  void overwrite_spans(const std::string& request_id, const std::string& spans) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE requests SET spans = ?1 WHERE request_id = ?2", -1,
                                 &s, nullptr),
              SQLITE_OK);
    sqlite3_bind_text(s, 1, spans.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, request_id.c_str(), -1, SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(s), SQLITE_DONE);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }

  std::vector<TrafficRow> scan() {
    std::vector<TrafficRow> rows;
    auto reader = open_store_reader(path_);
    EXPECT_TRUE(reader) << reader.error().message;
    if (!reader) return rows;
    auto done = (*reader)->scan_traffic([&](TrafficRow&& r) -> Result<void> {
      rows.push_back(std::move(r));
      return {};
    });
    EXPECT_TRUE(done) << done.error().message;
    return rows;
  }

  std::string dir_, path_;
};

core::Trace served_by_large(const std::string& id) {
  core::Trace t;
  t.request_id = id;
  t.time_ms = 1'700'000'000'000;
  t.model = "big";
  t.tier = "large";
  core::Span call;
  call.kind = core::SpanKind::kModelCall;
  call.name = "big";
  call.tier = "large";
  t.spans.push_back(call);
  return t;
}

core::Span route_span(const std::string& name, const std::string& detail,
                      const std::string& shadow_decision = {}) {
  core::Span s;
  s.kind = core::SpanKind::kRoute;
  s.name = name;
  s.detail = detail;
  s.shadow_decision = shadow_decision;
  return s;
}

// The typed key is what is read: the display detail says something else (it is for people,
// and may change), and a plain route span before it is not mistaken for a decision.
TEST_F(TrafficScanTest, ShadowDecisionIsReadFromTheTypedKey) {
  core::Trace typed = served_by_large("typed");
  typed.spans.insert(typed.spans.begin(), route_span("pass", "direct/1"));
  typed.spans.insert(typed.spans.begin() + 1,
                     route_span("router", "would route to the weak model (p=0.1)", "cheap"));
  core::Trace none = served_by_large("none");
  none.spans.insert(none.spans.begin(), route_span("pass", "direct/1"));
  write({typed, none});

  const std::vector<TrafficRow> rows = scan();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].shadow_target, "cheap");
  EXPECT_EQ(rows[0].model, "big");
  EXPECT_TRUE(rows[0].routed);
  EXPECT_EQ(rows[1].shadow_target, "");
  EXPECT_TRUE(rows[1].routed);
}

// Both spellings in one row (what this build writes): the typed key wins.
TEST_F(TrafficScanTest, TypedKeyWinsOverTheDisplayDetail) {
  core::Trace t = served_by_large("both");
  t.spans.insert(t.spans.begin(), route_span("router", "shadow decision: big (p=0.9)", "cheap"));
  write({t});
  const std::vector<TrafficRow> rows = scan();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].shadow_target, "cheap");
}

// Legacy path: a row written before the typed key existed has only the display detail
// "shadow decision: MODEL (...)"; the model is its first word after the prefix.
TEST_F(TrafficScanTest, StoresWithoutTheTypedKeyAreReadFromTheDetail) {
  write({served_by_large("old"), served_by_large("old-plain")});
  overwrite_spans(
      "old",
      R"js([{"kind":"route","name":"router","detail":"shadow decision: cheap (weak, p=0.210, t=0.500)",)js"
      R"js("tier":"","start_us":0,"duration_us":3,"queue_us":0,"ttfb_us":0,"tokens_in":0,)js"
      R"js("tokens_out":0,"tokens_estimated":false,"cost_usd":0,"ok":true,"error":""},)js"
      R"js({"kind":"model_call","name":"big","detail":"openai/1","tier":"large","start_us":3,)js"
      R"js("duration_us":900,"queue_us":0,"ttfb_us":300,"tokens_in":10,"tokens_out":5,)js"
      R"js("tokens_estimated":false,"cost_usd":0.001,"ok":true,"error":""}])js");
  const std::vector<TrafficRow> rows = scan();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].shadow_target, "cheap");
  EXPECT_EQ(rows[0].first_call_tier, "large");
  EXPECT_EQ(rows[1].shadow_target, "");
  EXPECT_FALSE(rows[1].routed);
}

}  // namespace
}  // namespace triage::telemetry

// SqliteStoreReader::scan_traffic: the shadow decision comes from the typed span key, and from
// the display detail only for rows written before that key existed (the legacy path).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/store_backends.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {
namespace {

namespace fs = std::filesystem;

// Every backend reads the same rows (store_backends.h). Rows come in storage order, which a
// backend defines (PostgreSQL's heap moves an updated row): the tests find rows by category.
class TrafficScanTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    TRIAGE_SKIP_UNLESS_BACKEND(GetParam());
    backend_ = std::make_unique<testing::BackendStore>(GetParam());
  }

  // Writes the traces through the store's own writer.
  void write(std::vector<core::Trace> traces) {
    auto store = backend_->open_writer(1000, 64, 3600000);
    for (core::Trace& t : traces) store->consume(std::make_shared<const core::Trace>(std::move(t)));
    store->close();
  }

  // Replaces a row's spans column with `spans` (JSON as an older build wrote it; no quote in
  // it, so a literal is safe in this test).
  void overwrite_spans(const std::string& request_id, const std::string& spans) {
    ASSERT_EQ(spans.find('\''), std::string::npos);
    backend_->exec("UPDATE requests SET spans = '" + spans + "' WHERE request_id = '" +
                   request_id + "'");
  }

  // The rows, by category (each trace below carries its id there).
  std::map<std::string, TrafficRow> scan() {
    std::map<std::string, TrafficRow> rows;
    auto reader = backend_->open_reader();
    if (!reader) return rows;
    auto done = reader->scan_traffic([&](TrafficRow&& r) -> Result<void> {
      std::string key = r.category;
      rows.emplace(std::move(key), std::move(r));
      return {};
    });
    EXPECT_TRUE(done) << done.error().message;
    return rows;
  }

  std::unique_ptr<testing::BackendStore> backend_;
};

TRIAGE_ON_EVERY_BACKEND(TrafficScanTest);

core::Trace served_by_large(const std::string& id) {
  core::Trace t;
  t.request_id = id;
  t.category = id;  // the scan's key in these tests
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
TEST_P(TrafficScanTest, ShadowDecisionIsReadFromTheTypedKey) {
  core::Trace typed = served_by_large("typed");
  typed.spans.insert(typed.spans.begin(), route_span("pass", "direct/1"));
  typed.spans.insert(typed.spans.begin() + 1,
                     route_span("router", "would route to the weak model (p=0.1)", "cheap"));
  core::Trace none = served_by_large("none");
  none.spans.insert(none.spans.begin(), route_span("pass", "direct/1"));
  write({typed, none});

  std::map<std::string, TrafficRow> rows = scan();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows["typed"].shadow_target, "cheap");
  EXPECT_EQ(rows["typed"].model, "big");
  EXPECT_TRUE(rows["typed"].routed);
  EXPECT_EQ(rows["none"].shadow_target, "");
  EXPECT_TRUE(rows["none"].routed);
}

// Both spellings in one row (what this build writes): the typed key wins.
TEST_P(TrafficScanTest, TypedKeyWinsOverTheDisplayDetail) {
  core::Trace t = served_by_large("both");
  t.spans.insert(t.spans.begin(), route_span("router", "shadow decision: big (p=0.9)", "cheap"));
  write({t});
  std::map<std::string, TrafficRow> rows = scan();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows["both"].shadow_target, "cheap");
}

// Legacy path: a row written before the typed key existed has only the display detail
// "shadow decision: MODEL (...)"; the model is its first word after the prefix.
TEST_P(TrafficScanTest, StoresWithoutTheTypedKeyAreReadFromTheDetail) {
  write({served_by_large("old"), served_by_large("old-plain")});
  overwrite_spans(
      "old",
      R"js([{"kind":"route","name":"router","detail":"shadow decision: cheap (weak, p=0.210, t=0.500)",)js"
      R"js("tier":"","start_us":0,"duration_us":3,"queue_us":0,"ttfb_us":0,"tokens_in":0,)js"
      R"js("tokens_out":0,"tokens_estimated":false,"cost_usd":0,"ok":true,"error":""},)js"
      R"js({"kind":"model_call","name":"big","detail":"openai/1","tier":"large","start_us":3,)js"
      R"js("duration_us":900,"queue_us":0,"ttfb_us":300,"tokens_in":10,"tokens_out":5,)js"
      R"js("tokens_estimated":false,"cost_usd":0.001,"ok":true,"error":""}])js");
  std::map<std::string, TrafficRow> rows = scan();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows["old"].shadow_target, "cheap");
  EXPECT_EQ(rows["old"].first_call_tier, "large");
  EXPECT_EQ(rows["old-plain"].shadow_target, "");
  EXPECT_FALSE(rows["old-plain"].routed);
}

}  // namespace
}  // namespace triage::telemetry

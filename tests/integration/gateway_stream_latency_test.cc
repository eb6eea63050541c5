// A streamed answer's `triage.latency_ms` (in the last chunk) is the same latency split the
// store records: total and overhead measured, and the parts adding up to the total. Through the
// real gateway and the real test upstream, with an upstream slow enough (mode slow-<ms>) that
// a total of 0 cannot pass for rounding.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <filesystem>
#include <optional>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kKey[] = "sk-test-stream-latency";
constexpr int64_t kUpstreamMs = 40;  // the upstream's modelled delay before it answers

std::string config_yaml(int upstream_port, const std::string& db_path) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  return "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
         "store: {type: sqlite, path: " + db_path + "}\n"
         "models:\n"
         "  - name: up-slowish\n    provider: openai\n    endpoint: " + ep +
         "\n    api_key_env: TEST_UPSTREAM_KEY\n    upstream_model: \"mode:slow-" +
         std::to_string(kUpstreamMs) + "\"\n    tier: small\n    timeout_ms: 5000\n"
         "routes:\n"
         "  - name: support\n    type: model\n    model: up-slowish\n";
}

std::string chat(const std::string& model, bool include_usage) {
  return R"({"model":")" + model + R"(","stream":true)" +
         (include_usage ? R"(,"stream_options":{"include_usage":true})" : "") +
         R"(,"messages":[{"role":"user","content":"hello there friend"}]})";
}

// The `triage` object of the stream's last chunk that carries one.
std::optional<json::object> triage_of(const std::string& sse) {
  std::optional<json::object> last;
  for (const SseEvent& e : parse_sse(sse)) {
    boost::system::error_code ec;
    json::value v = json::parse(e.data, ec);
    if (ec || !v.is_object()) continue;
    if (const json::value* t = v.as_object().if_contains("triage"); t && t->is_object())
      last = t->as_object();
  }
  return last;
}

double ms(const json::object& latency, const char* part) {
  const json::value* v = latency.if_contains(part);
  if (!v || !v->is_number()) {
    ADD_FAILURE() << "latency_ms." << part << " missing or not a number";
    return -1;
  }
  return v->to_number<double>();
}

struct StoredSplit {
  int64_t routing_us = -1, queue_us = -1, upstream_us = -1, overhead_us = -1, total_us = -1;
};

std::optional<StoredSplit> stored_split(const std::string& db_path, const std::string& id) {
  sqlite3* db = nullptr;
  std::optional<StoredSplit> out;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    const char* sql =
        "SELECT routing_us, queue_us, upstream_us, overhead_us, total_us FROM requests "
        "WHERE request_id = ?1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      if (sqlite3_step(st) == SQLITE_ROW) {
        out = StoredSplit{sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                          sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
                          sqlite3_column_int64(st, 4)};
      }
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

class StreamLatencyTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), dir_.file("triage.db")));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{{"TEST_UPSTREAM_KEY", kKey}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

// Parameter: include_usage (the triage object rides on the usage chunk) or not (on the finish
// chunk). Both must carry the completed split.
TEST_P(StreamLatencyTest, LastChunkCarriesTheCompletedSplit) {
  const HttpResponse r =
      http_stream(gw_->port(), "/v1/chat/completions", chat("support", GetParam()), {},
                  Millis(5000));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  ASSERT_TRUE(r.complete) << r.error;
  const std::string id = r.header("x-request-id");
  ASSERT_FALSE(id.empty());

  const std::optional<json::object> triage = triage_of(r.body);
  ASSERT_TRUE(triage.has_value()) << r.body;
  ASSERT_TRUE(triage->contains("latency_ms")) << json::serialize(*triage);
  const json::object& lat = triage->at("latency_ms").as_object();
  const double total = ms(lat, "total"), overhead = ms(lat, "overhead");
  const double routing = ms(lat, "routing"), queue = ms(lat, "queue"),
               upstream = ms(lat, "upstream");
  SCOPED_TRACE(json::serialize(lat));
  EXPECT_GE(upstream, static_cast<double>(kUpstreamMs));
  EXPECT_GE(total, upstream);  // was 0: the split was never completed for streams
  EXPECT_GT(overhead, 0.0);    // parsing, routing the chunks, writing: never free
  EXPECT_NEAR(routing + queue + upstream + overhead, total, 0.005);  // ms with us precision

  // The store has the same request with the split completed at the end of the stream: the
  // same parts, a total at least as large (it also counts writing the last chunk).
  ASSERT_TRUE(gw_->process().terminate(Millis(5000)).has_value());
  const std::optional<StoredSplit> s = stored_split(dir_.file("triage.db"), id);
  ASSERT_TRUE(s.has_value()) << "no store row for " << id;
  EXPECT_EQ(s->upstream_us, static_cast<int64_t>(upstream * 1000 + 0.5));
  EXPECT_EQ(s->routing_us + s->queue_us + s->upstream_us + s->overhead_us, s->total_us);
  EXPECT_GE(s->total_us, static_cast<int64_t>(total * 1000 + 0.5));
}

INSTANTIATE_TEST_SUITE_P(IncludeUsage, StreamLatencyTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "WithUsage" : "NoUsage"; });

}  // namespace
}  // namespace triage::testing

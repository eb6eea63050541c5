// The shipped reference pipeline (examples/support.yaml) served by the real gateway against the
// real test upstream: the file is used as shipped except for ports, paths and the store, the
// intent step is the real fastText model from `make models`, the knowledge base is the real
// examples/kb. The upstream echoes its prompt, so the draft of a message that contains a card
// number contains it too, and the step checks decide the path.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <string>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

const std::map<std::string, std::string> kJson = {{"content-type", "application/json"}};
const std::string kSrc = TRIAGE_SOURCE_DIR;

// Replaces every `from` in `text`; the test fails if there is none, so a change to the shipped
// file that breaks an edit is noticed here.
void replace_all(std::string& text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << "examples/support.yaml no longer contains: " << from;
  while (at != std::string::npos) {
    text.replace(at, from.size(), to);
    at = text.find(from, at + to.size());
  }
}

class SupportPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    std::string yaml = read_file(kSrc + "/examples/support.yaml");
    replace_all(yaml, "  port: 8080", "  port: 0");
    replace_all(yaml, "http://127.0.0.1:8081/v1",
                "http://127.0.0.1:" + std::to_string(up_.port()) + "/v1");
    replace_all(yaml, "  path: ../build/support.db",
                "  path: " + dir_.file("support.db") + "\n  flush_interval_ms: 20");
    replace_all(yaml, "../models/intent.bin", kSrc + "/models/intent.bin");
    replace_all(yaml, "documents: kb", "documents: " + kSrc + "/examples/kb");
    write_file(dir_.file("support.yaml"), yaml);
    gw_ = std::make_unique<Gateway>(dir_.file("support.yaml"), std::map<std::string, std::string>{});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }

  // The stored row of `request_id`: flags and spans (JSON text). Call after the gateway exited.
  std::pair<std::string, std::string> stored(const std::string& request_id) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(dir_.file("support.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT flags, spans FROM requests WHERE request_id = ?", -1, &s,
                       nullptr);
    sqlite3_bind_text(s, 1, request_id.c_str(), -1, SQLITE_TRANSIENT);
    std::pair<std::string, std::string> out;
    if (s && sqlite3_step(s) == SQLITE_ROW) {
      out = {reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
             reinterpret_cast<const char*>(sqlite3_column_text(s, 1))};
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }
  std::vector<std::string> review_reasons(const std::string& request_id) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(dir_.file("support.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT reason FROM review_reasons WHERE request_id = ? ORDER BY reason",
                       -1, &s, nullptr);
    sqlite3_bind_text(s, 1, request_id.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<std::string> out;
    while (s && sqlite3_step(s) == SQLITE_ROW) {
      out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }
  // The detail of the span named `name` in a stored spans array.
  static std::string span_detail(const std::string& spans, const std::string& name) {
    const json::value parsed = json::parse(spans);
    for (const auto& s : parsed.as_array()) {
      if (s.at("name").as_string() == name) return std::string(s.at("detail").as_string());
    }
    return "(no span " + name + ")";
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(SupportPipelineTest, ACardNumberInTheDraftIsRewrittenAndOnlyTheFinalStepStreams) {
  const std::string body =
      R"({"model":"support","stream":true,"messages":[{"role":"user","content":)"
      R"("I lost my card, the number is 4111 1111 1111 1111. What should I do?"}]})";
  HttpResponse r = http_stream(gw_->port(), "/v1/chat/completions", body, kJson, Millis(20000));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  const std::string id = r.header("x-request-id");
  ASSERT_FALSE(id.empty());
  // The streamed text is the verify step's answer (the echo of its prompt), nothing earlier.
  std::string text;
  for (const auto& e : parse_sse(r.body)) {
    if (e.data == "[DONE]") continue;
    const json::value chunk = json::parse(e.data);
    const auto& choices = chunk.at("choices").as_array();
    if (choices.empty()) continue;
    if (const auto* c = choices[0].at("delta").as_object().if_contains("content");
        c && c->is_string()) {
      text += c->as_string();
    }
  }
  EXPECT_EQ(text.rfind("echo: Check the draft reply against the help-article passages", 0), 0u)
      << text;
  EXPECT_NE(text.find("Safety review:\necho: Review this draft reply"), std::string::npos)
      << "the safety step should have gone to the small LLM: " << text;

  ASSERT_TRUE(gw_->process().terminate(Millis(10000)).has_value());
  const auto [flags, spans] = stored(id);
  ASSERT_FALSE(spans.empty()) << "request " << id << " was not stored";
  EXPECT_NE(span_detail(spans, "support.draft").find("checks failed (regex/1: "),
            std::string::npos)
      << span_detail(spans, "support.draft");
  EXPECT_NE(span_detail(spans, "support.safety").find("-> 'small-llm' (branch on draft verdict = 'fail')"),
            std::string::npos)
      << span_detail(spans, "support.safety");
  EXPECT_NE(span_detail(spans, "support.lookup").find("-> 'kb'"), std::string::npos);
  // The draft's rule failure is handled by the pipeline (flag_on_fail: false): no review item.
  EXPECT_EQ(flags.find("step_checks_failed"), std::string::npos) << flags;
}

TEST_F(SupportPipelineTest, EntitiesThatAreNotJsonFlagTheRequestForReview) {
  const std::string body =
      R"({"model":"support","messages":[{"role":"user","content":)"
      R"("please transfer $500 from my savings account to my checking account"}]})";
  HttpResponse r = http_request(gw_->port(), "POST", "/v1/chat/completions", body, kJson,
                                Millis(20000));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  const std::string id = r.header("x-request-id");
  const json::value v = r.json();
  EXPECT_EQ(v.at("triage").at("route"), json::value("support")) << r.body;
  EXPECT_EQ(v.at("triage").at("model"), json::value("medium-llm")) << r.body;

  ASSERT_TRUE(gw_->process().terminate(Millis(10000)).has_value());
  const auto [flags, spans] = stored(id);
  ASSERT_FALSE(spans.empty()) << "request " << id << " was not stored";
  // The real intent model sent this to the entities step, whose echoed reply is not JSON.
  const std::string entities = span_detail(spans, "support.entities");
  ASSERT_EQ(entities.find("skipped"), std::string::npos)
      << "intent " << span_detail(spans, "support.intent") << ": " << entities;
  EXPECT_NE(entities.find("checks failed (json/1: "), std::string::npos) << entities;
  // A clean draft: the safety step stayed on the local model.
  EXPECT_NE(span_detail(spans, "support.safety").find("-> 'safety-local'"), std::string::npos)
      << span_detail(spans, "support.safety");
  EXPECT_NE(flags.find("step_checks_failed"), std::string::npos) << flags;
  const auto reasons = review_reasons(id);
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "step_checks_failed"), reasons.end());
}

}  // namespace
}  // namespace triage::testing

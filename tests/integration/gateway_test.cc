// The real gateway (bin/triage) against the real test upstream (bin/triage-test-upstream), both
// as child processes on ephemeral ports. Each test gets fresh processes and a fresh store.
//
// Token arithmetic used below comes from the upstream's documented accounting: prompt_tokens =
// words of all message texts, completion_tokens = words of the answer "echo: <last user text>".
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kKey[] = "sk-test-SECRET-5f3a9c1d7e";
constexpr double kPriceIn = 0.5, kPriceOut = 1.5;  // USD per 1M tokens (model up-ok)
constexpr int64_t kMaxBody = 65536;

std::string config_yaml(int upstream_port, const std::string& db_path) {
  std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& upstream_model, int timeout_ms,
                   const std::string& provider = "openai") {
    return "  - name: " + name + "\n    provider: " + provider + "\n    endpoint: " + ep +
           "\n    api_key_env: TEST_UPSTREAM_KEY\n    upstream_model: \"" + upstream_model +
           "\"\n    tier: small\n    prices: {input: 0.5, output: 1.5}\n    timeout_ms: " +
           std::to_string(timeout_ms) + "\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 2, max_body_bytes: " + std::to_string(kMaxBody) +
         "}\n"
         "store: {type: sqlite, path: " + db_path + "}\n"
         "models:\n" +
         model("up-ok", "gpt-test", 2000) + model("up-500", "mode:error-500", 2000) +
         model("up-slow", "mode:slow-5000", 300) + model("up-slowish", "mode:slow-300", 3000) +
         model("up-reset", "mode:reset", 2000) + model("up-garbage", "mode:garbage", 2000) +
         model("up-cut", "mode:cut", 2000) + model("up-stall", "mode:stall", 400) +
         model("claude-test", "claude-3-test", 2000, "anthropic") +
         "routes:\n"
         "  - name: support\n    type: model\n    model: up-ok\n";
}

std::string chat(const std::string& model, bool stream = false, const std::string& extra = "") {
  return R"({"model":")" + model + R"(","stream":)" + (stream ? "true" : "false") + extra +
         R"(,"messages":[{"role":"user","content":"hello there friend"}]})";
}

double expected_cost(int64_t in, int64_t out) { return (in * kPriceIn + out * kPriceOut) / 1e6; }

std::string str(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : ""; }

// Concatenated delta.content of OpenAI chunks; sets `done` when [DONE] was seen.
std::string stream_text(const std::vector<SseEvent>& events, bool& done, json::value* usage) {
  std::string text;
  done = false;
  for (const auto& e : events) {
    if (e.data == "[DONE]") {
      done = true;
      continue;
    }
    boost::system::error_code ec;
    auto v = json::parse(e.data, ec);
    if (ec || !v.is_object()) continue;
    if (auto* u = v.as_object().if_contains("usage"); u && u->is_object() && usage) *usage = *u;
    auto* choices = v.as_object().if_contains("choices");
    if (!choices || !choices->is_array() || choices->as_array().empty()) continue;
    auto* delta = choices->as_array()[0].as_object().if_contains("delta");
    if (!delta || !delta->is_object()) continue;
    if (auto* c = delta->as_object().if_contains("content"); c && c->is_string()) text += c->get_string();
  }
  return text;
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0) << "test upstream did not start";
    ASSERT_TRUE(std::filesystem::exists(gateway_binary())) << gateway_binary();
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port(), db_path()));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{{"TEST_UPSTREAM_KEY", kKey}});
    ASSERT_GT(gw_->port(), 0) << "gateway did not print its listening line; stderr:\n"
                              << gw_->process().stderr_text();
  }

  std::string db_path() const { return dir_.file("triage.db"); }
  int port() const { return gw_->port(); }

  HttpResponse post(const std::string& body, std::map<std::string, std::string> headers = {},
                    Millis timeout = Millis(3000)) {
    return http_request(port(), "POST", "/v1/chat/completions", body, headers, timeout);
  }
  HttpResponse stream(const std::string& body, Millis timeout = Millis(3000)) {
    return http_stream(port(), "/v1/chat/completions", body, {}, timeout);
  }

  // Asserts an OpenAI-style error body and returns its error object.
  static json::object expect_error(const HttpResponse& r, int status) {
    EXPECT_EQ(r.status, status) << r.body << r.error;
    auto v = r.json();
    if (!v.is_object() || !v.as_object().contains("error") || !v.at("error").is_object()) {
      ADD_FAILURE() << "not an OpenAI error body: " << r.body;
      return {};
    }
    auto err = v.at("error").as_object();
    EXPECT_TRUE(err.contains("message") && err.at("message").is_string()) << r.body;
    EXPECT_FALSE(str(err["message"]).empty()) << r.body;
    EXPECT_TRUE(err.contains("type") && err.at("type").is_string()) << r.body;
    return err;
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

TEST_F(GatewayTest, HealthReadyModels) {
  EXPECT_EQ(http_request(port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(port(), "GET", "/readyz").status, 200);
  auto m = http_request(port(), "GET", "/v1/models");
  ASSERT_EQ(m.status, 200);
  std::set<std::string> ids;
  auto models = m.json();  // (the loop must not range over a member of a temporary)
  for (const auto& e : models.at("data").as_array()) ids.insert(str(e.at("id")));
  EXPECT_TRUE(ids.count("up-ok"));
  EXPECT_TRUE(ids.count("claude-test"));
  EXPECT_TRUE(ids.count("support"));
}

TEST_F(GatewayTest, NonStreamingPassThrough) {
  auto r = post(chat("up-ok"));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  auto v = r.json();
  EXPECT_EQ(v.at("object"), "chat.completion");
  EXPECT_EQ(v.at("choices").at(0).at("message").at("content"), "echo: hello there friend");
  EXPECT_EQ(v.at("usage").at("prompt_tokens").to_number<int64_t>(), 3);
  EXPECT_EQ(v.at("usage").at("completion_tokens").to_number<int64_t>(), 4);
  EXPECT_FALSE(r.header("x-request-id").empty());
  EXPECT_EQ(r.header("x-triage-model"), "up-ok");
  EXPECT_NEAR(std::strtod(r.header("x-triage-cost-usd").c_str(), nullptr), expected_cost(3, 4), 1e-12);
  auto& t = v.at("triage");
  EXPECT_EQ(t.at("model"), "up-ok");
  EXPECT_EQ(str(t.at("request_id")), r.header("x-request-id"));
  EXPECT_NEAR(t.at("cost_usd").to_number<double>(), expected_cost(3, 4), 1e-12);

  auto last = up_.last_request();
  EXPECT_EQ(last.at("target"), "/v1/chat/completions");
  EXPECT_EQ(str(last.at("headers").at("authorization")), std::string("Bearer ") + kKey);
  auto sent = json::parse(last.at("body").as_string());
  EXPECT_EQ(sent.at("model"), "gpt-test");
  EXPECT_EQ(sent.at("messages").at(0).at("content"), "hello there friend");
}

TEST_F(GatewayTest, UnknownFieldsReachTheUpstreamUnchanged) {
  auto r = post(chat("up-ok", false, R"(,"seed":7,"response_format":{"type":"text"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto sent = json::parse(up_.last_request().at("body").as_string());
  EXPECT_EQ(sent.at("seed").to_number<int64_t>(), 7);
  EXPECT_EQ(sent.at("response_format").at("type"), "text");
}

TEST_F(GatewayTest, StreamingWithUsage) {
  auto r = stream(chat("up-ok", true, R"(,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_TRUE(r.complete) << r.error;
  EXPECT_NE(r.header("content-type").find("text/event-stream"), std::string::npos);
  EXPECT_TRUE(r.first_body_byte.has_value());
  bool done = false;
  json::value usage;
  auto events = parse_sse(r.body);
  EXPECT_EQ(stream_text(events, done, &usage), "echo: hello there friend");
  EXPECT_TRUE(done) << r.body;
  ASSERT_TRUE(usage.is_object()) << r.body;
  EXPECT_EQ(usage.at("prompt_tokens").to_number<int64_t>(), 3);
  EXPECT_EQ(usage.at("completion_tokens").to_number<int64_t>(), 4);
  EXPECT_FALSE(r.header("x-request-id").empty());
}

TEST_F(GatewayTest, StreamingAsksUpstreamForUsageEvenWhenClientDoesNot) {
  auto r = stream(chat("up-ok", true));
  ASSERT_EQ(r.status, 200) << r.body;
  bool done = false;
  EXPECT_EQ(stream_text(parse_sse(r.body), done, nullptr), "echo: hello there friend");
  EXPECT_TRUE(done);
  auto sent = json::parse(up_.last_request().at("body").as_string());
  EXPECT_EQ(sent.at("model"), "gpt-test");
  EXPECT_EQ(sent.at("stream"), true);
  EXPECT_EQ(sent.at("stream_options").at("include_usage"), true);
}

TEST_F(GatewayTest, RouteNameResolves) {
  auto r = post(chat("support"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-triage-model"), "up-ok");
  EXPECT_EQ(r.json().at("triage").at("route"), "support");
  EXPECT_EQ(r.json().at("choices").at(0).at("message").at("content"), "echo: hello there friend");
}

TEST_F(GatewayTest, AnthropicModel) {
  auto r = post(chat("claude-test"));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  auto v = r.json();
  EXPECT_EQ(v.at("object"), "chat.completion");
  EXPECT_EQ(v.at("choices").at(0).at("message").at("content"), "echo: hello there friend");
  EXPECT_EQ(v.at("usage").at("prompt_tokens").to_number<int64_t>(), 3);
  EXPECT_EQ(v.at("usage").at("completion_tokens").to_number<int64_t>(), 4);
  EXPECT_EQ(r.header("x-triage-model"), "claude-test");
  auto last = up_.last_request();
  EXPECT_EQ(last.at("target"), "/v1/messages");
  EXPECT_EQ(str(last.at("headers").at("x-api-key")), kKey);
  EXPECT_FALSE(str(last.at("headers").at("anthropic-version")).empty());
  auto sent = json::parse(last.at("body").as_string());
  EXPECT_EQ(sent.at("model"), "claude-3-test");
  EXPECT_TRUE(sent.at("max_tokens").is_number());
}

TEST_F(GatewayTest, AnthropicStreamIsTranslatedToOpenAIChunks) {
  auto r = stream(chat("claude-test", true, R"(,"stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  bool done = false;
  json::value usage;
  EXPECT_EQ(stream_text(parse_sse(r.body), done, &usage), "echo: hello there friend");
  EXPECT_TRUE(done) << r.body;
  ASSERT_TRUE(usage.is_object()) << r.body;
  EXPECT_EQ(usage.at("completion_tokens").to_number<int64_t>(), 4);
}

struct BadInput {
  const char* name;
  std::string body;
  std::map<std::string, std::string> headers;
  int status;
  const char* param;  // expected in error.param (substring), or nullptr
};

TEST_F(GatewayTest, BadInputIsRejectedBeforeTheUpstream) {
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  std::vector<BadInput> cases = {
      {"malformed json", R"({"model":"up-ok",)", {}, 400, nullptr},
      {"not an object", R"([1,2])", {}, 400, nullptr},
      {"messages wrong type", R"({"model":"up-ok","messages":"hi"})", {}, 400, "messages"},
      {"temperature wrong type", R"({"model":"up-ok","temperature":"hot",)" + msgs + "}", {}, 400,
       "temperature"},
      {"stream wrong type", R"({"model":"up-ok","stream":"yes",)" + msgs + "}", {}, 400, "stream"},
      {"model wrong type", R"({"model":5,)" + msgs + "}", {}, 400, "model"},
      {"missing messages", R"({"model":"up-ok"})", {}, 400, "messages"},
      {"missing model", "{" + msgs + "}", {}, 400, "model"},
      {"unknown model", R"({"model":"no-such-model",)" + msgs + "}", {}, 404, nullptr},
      {"text/plain", R"({"model":"up-ok",)" + msgs + "}", {{"Content-Type", "text/plain"}}, 415,
       nullptr},
      {"too large",
       R"({"model":"up-ok","messages":[{"role":"user","content":")" + std::string(kMaxBody, 'a') +
           R"("}]})",
       {}, 413, nullptr},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = post(c.body, c.headers);
    auto err = expect_error(r, c.status);
    EXPECT_FALSE(r.header("x-request-id").empty());
    if (c.param) {
      EXPECT_NE(str(err["param"]).find(c.param), std::string::npos) << r.body;
    }
  }
  EXPECT_EQ(up_.request_count(), 0) << "a bad request reached the upstream";
}

TEST_F(GatewayTest, UnknownPathIs404AndWrongMethodIsRejected) {
  expect_error(http_request(port(), "GET", "/v1/nope"), 404);
  auto r = http_request(port(), "GET", "/v1/chat/completions");
  EXPECT_TRUE(r.status == 405 || r.status == 404) << r.status;
}

TEST_F(GatewayTest, UpstreamFailuresMapToGatewayErrors) {
  struct Case {
    const char* model;
    int status;
  };
  for (const Case& c : {Case{"up-500", 502}, Case{"up-slow", 504}, Case{"up-reset", 502},
                        Case{"up-garbage", 502}, Case{"up-cut", 502}}) {
    SCOPED_TRACE(c.model);
    auto r = post(chat(c.model));
    expect_error(r, c.status);
    EXPECT_FALSE(r.header("x-request-id").empty());
  }
}

TEST_F(GatewayTest, UpstreamErrorBeforeStreamStartsIsAnHttpError) {
  auto r = stream(chat("up-500", true));
  expect_error(r, 502);
}

// After a stream has started the status is already 200: the failure must arrive as an error event
// and the stream must end (no hang, no [DONE] pretending success).
void expect_stream_error_event(const HttpResponse& r) {
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.error.find("timeout"), std::string::npos) << "stream hung: " << r.error;
  bool saw_error = false;
  for (const auto& e : parse_sse(r.body)) {
    boost::system::error_code ec;
    auto v = json::parse(e.data, ec);
    if (!ec && v.is_object() && v.as_object().contains("error")) saw_error = true;
  }
  EXPECT_TRUE(saw_error) << r.body;
}

TEST_F(GatewayTest, MidStreamCutEndsWithErrorEvent) {
  auto r = stream(chat("up-cut", true), Millis(3000));
  expect_stream_error_event(r);
  bool done = false;
  EXPECT_EQ(stream_text(parse_sse(r.body), done, nullptr), "echo:");
}

TEST_F(GatewayTest, StalledStreamHitsTheDeadline) {
  auto r = stream(chat("up-stall", true), Millis(3000));
  expect_stream_error_event(r);
}

TEST_F(GatewayTest, SigtermFinishesInFlightRequests) {
  auto pending = std::async(std::launch::async, [this] { return post(chat("up-slowish")); });
  // The request is in flight once the upstream has it (slow-300 holds it there).
  for (int i = 0; i < 200 && up_.request_count() < 1; ++i)
    std::this_thread::sleep_for(Millis(5));
  ASSERT_EQ(up_.request_count(), 1);
  auto st = gw_->process().terminate(Millis(5000));
  auto r = pending.get();
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  ASSERT_TRUE(st.has_value()) << "gateway did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*st));
  EXPECT_EQ(WEXITSTATUS(*st), 0);
}

struct Row {
  std::string model, route, status, error_code;
  int64_t tokens_in = -1, tokens_out = -1;
  double cost_usd = -1;
};

std::map<std::string, Row> read_store(const std::string& path) {
  std::map<std::string, Row> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open store " << path << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return rows;
  }
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "SELECT request_id, model, route, status, error_code, tokens_in, tokens_out, cost_usd "
      "FROM requests";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "store query failed: " << sqlite3_errmsg(db);
  } else {
    auto text = [&](int i) {
      auto* p = sqlite3_column_text(st, i);
      return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
    };
    while (sqlite3_step(st) == SQLITE_ROW) {
      Row r{text(1), text(2), text(3), text(4), sqlite3_column_int64(st, 5),
            sqlite3_column_int64(st, 6), sqlite3_column_double(st, 7)};
      rows[text(0)] = r;
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

TEST_F(GatewayTest, EveryRequestIsStoredAndTheKeyNeverLeaks) {
  std::vector<std::pair<std::string, bool>> ids;  // request id, success
  auto remember = [&](const HttpResponse& r) {
    ASSERT_FALSE(r.header("x-request-id").empty()) << r.status << " " << r.body;
    ids.emplace_back(r.header("x-request-id"), r.status == 200);
  };
  remember(post(chat("up-ok")));
  remember(post(chat("support")));
  remember(stream(chat("up-ok", true)));
  remember(post(chat("claude-test")));
  remember(post(chat("up-500")));
  remember(post(chat("up-garbage")));
  remember(post(chat("no-such-model")));
  remember(post(R"({"model":"up-ok",)"));
  ASSERT_EQ(ids.size(), 8u);

  auto metrics = http_request(port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_FALSE(metrics.body.empty());
  EXPECT_EQ(metrics.body.find(kKey), std::string::npos) << "API key in /metrics";

  auto st = gw_->process().terminate(Millis(5000));
  ASSERT_TRUE(st.has_value()) << "gateway did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "exit status " << *st;

  auto rows = read_store(db_path());
  for (const auto& [id, ok] : ids) {
    SCOPED_TRACE(id);
    auto it = rows.find(id);
    ASSERT_NE(it, rows.end()) << "no store row for request " << id;
    if (ok) {
      EXPECT_TRUE(it->second.error_code.empty()) << it->second.error_code;
      EXPECT_EQ(it->second.tokens_in, 3);
      EXPECT_EQ(it->second.tokens_out, 4);
      if (it->second.model == "up-ok") {
        EXPECT_NEAR(it->second.cost_usd, expected_cost(3, 4), 1e-12);
      }
    } else {
      EXPECT_FALSE(it->second.error_code.empty());
    }
  }
  EXPECT_EQ(rows.at(ids[0].first).model, "up-ok");
  EXPECT_EQ(rows.at(ids[1].first).route, "support");
  EXPECT_NE(rows.at(ids[0].first).status, rows.at(ids[4].first).status);

  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    if (entry.path().filename().string().rfind("triage.db", 0) != 0) continue;
    EXPECT_EQ(read_file(entry.path().string()).find(kKey), std::string::npos)
        << "API key stored in " << entry.path();
  }
  EXPECT_EQ(gw_->process().stderr_text().find(kKey), std::string::npos) << "API key in the logs";
  for (const auto& line : gw_->process().stdout_lines())
    EXPECT_EQ(line.find(kKey), std::string::npos) << "API key on stdout";
}

}  // namespace
}  // namespace triage::testing

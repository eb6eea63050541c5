// POST /v1/messages (the Anthropic Messages dialect) and GET /v1/models/{id} on the real gateway
// against the real test upstream: served by an OpenAI-compatible upstream and by an Anthropic
// one, JSON and SSE, errors in Anthropic's shape.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kKey[] = "sk-test-SECRET-8a1c4e7b2d";

std::string config_yaml(int upstream_port) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& upstream_model,
                   const std::string& provider) {
    return "  - {name: " + name + ", provider: " + provider + ", endpoint: \"" + ep +
           "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: \"" + upstream_model +
           "\", tier: small, prices: {input: 0.5, output: 1.5}}\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
         "store: {type: none}\n"
         "models:\n" +
         model("up-ok", "gpt-test", "openai") + model("up-500", "mode:error-500", "openai") +
         model("claude-test", "claude-3-test", "anthropic") +
         "routes:\n  - {name: support, type: model, model: up-ok}\n";
}

class MessagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0);
    ASSERT_TRUE(std::filesystem::exists(gateway_binary())) << gateway_binary();
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port()));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{{"TEST_UPSTREAM_KEY", kKey}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  HttpResponse post(const std::string& body) {
    return http_request(gw_->port(), "POST", "/v1/messages", body,
                        {{"content-type", "application/json"}, {"anthropic-version", "2023-06-01"}});
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

std::string body(const std::string& model, bool stream) {
  return R"({"model":")" + model + R"(","max_tokens":32,"stream":)" + (stream ? "true" : "false") +
         R"(,"system":"be kind","messages":[{"role":"user","content":"hello there friend"}]})";
}

TEST_F(MessagesTest, ServedByBothProviderKinds) {
  for (const std::string model : {"support", "claude-test"}) {
    SCOPED_TRACE(model);
    HttpResponse r = post(body(model, false));
    ASSERT_EQ(r.status, 200) << r.body;
    json::value v = r.json();
    EXPECT_EQ(v.at("type"), "message");
    EXPECT_EQ(v.at("content"), json::parse(R"([{"type":"text","text":"echo: hello there friend"}])"));
    EXPECT_EQ(v.at("stop_reason"), "end_turn");
    // Upstream word counts: "be kind" + "hello there friend" = 5 in; the answer is 4 words.
    EXPECT_EQ(v.at("usage").at("input_tokens"), 5);
    EXPECT_EQ(v.at("usage").at("output_tokens"), 4);
    EXPECT_EQ(r.header("x-triage-cost-usd").substr(0, 8), "0.000008");  // (5*0.5 + 4*1.5)/1e6
  }
}

TEST_F(MessagesTest, UpstreamGetsTheOpenAIShape) {
  ASSERT_EQ(post(body("up-ok", false)).status, 200);
  json::value last = up_.last_request();
  EXPECT_EQ(last.at("target"), "/v1/chat/completions");
  json::value sent = json::parse(last.at("body").as_string());
  EXPECT_EQ(sent.at("messages"), json::parse(R"([{"role":"system","content":"be kind"},
      {"role":"user","content":"hello there friend"}])"));
  EXPECT_EQ(sent.at("max_tokens"), 32);
}

TEST_F(MessagesTest, StreamEventSequence) {
  HttpResponse r = http_stream(gw_->port(), "/v1/messages", body("up-ok", true),
                               {{"content-type", "application/json"}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<std::string> names;
  std::string text;
  json::value last_delta;
  for (const SseEvent& e : parse_sse(r.body)) {
    names.push_back(e.event);
    json::value d = json::parse(e.data);
    EXPECT_EQ(d.at("type"), e.event.c_str());
    if (e.event == "content_block_delta") text += d.at("delta").at("text").as_string();
    if (e.event == "message_delta") last_delta = d;
  }
  ASSERT_GE(names.size(), 6u) << r.body;
  EXPECT_EQ(names.front(), "message_start");
  EXPECT_EQ(names[1], "content_block_start");
  EXPECT_EQ(std::vector<std::string>(names.end() - 3, names.end()),
            (std::vector<std::string>{"content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(text, "echo: hello there friend");
  EXPECT_EQ(last_delta.at("delta").at("stop_reason"), "end_turn");
  EXPECT_EQ(last_delta.at("usage").at("input_tokens"), 5);
  EXPECT_EQ(last_delta.at("usage").at("output_tokens"), 4);
}

TEST_F(MessagesTest, ErrorsInAnthropicShape) {
  auto expect = [](const HttpResponse& r, int status, const std::string& type) {
    EXPECT_EQ(r.status, status) << r.body;
    json::value v = r.json();
    ASSERT_TRUE(v.is_object()) << r.body;
    EXPECT_EQ(v.at("type"), "error") << r.body;
    EXPECT_EQ(v.at("error").at("type"), type.c_str()) << r.body;
    EXPECT_FALSE(v.at("error").at("message").as_string().empty());
  };
  expect(post(R"({"model":"up-ok","messages":[{"role":"user","content":"x"}]})"), 400,
         "invalid_request_error");
  expect(post(body("nope", false)), 404, "not_found_error");
  expect(post(body("up-500", false)), 502, "api_error");
  expect(http_request(gw_->port(), "GET", "/v1/messages"), 405, "invalid_request_error");
  expect(http_request(gw_->port(), "POST", "/v1/messages", body("up-ok", false),
                      {{"content-type", "text/plain"}}),
         415, "invalid_request_error");
}

TEST_F(MessagesTest, ModelById) {
  HttpResponse m = http_request(gw_->port(), "GET", "/v1/models/up-ok");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(m.json().at("id"), "up-ok");
  EXPECT_EQ(m.json().at("object"), "model");
  HttpResponse route = http_request(gw_->port(), "GET", "/v1/models/support");
  ASSERT_EQ(route.status, 200) << route.body;
  EXPECT_EQ(route.json().at("triage").at("kind"), "route");
  HttpResponse missing = http_request(gw_->port(), "GET", "/v1/models/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json().at("error").at("code"), "model_not_found");
}

}  // namespace
}  // namespace triage::testing

namespace triage::testing {
namespace {

// Past server.max_requests_per_thread, the fast 503 is in the shape of the API asked: Anthropic's
// overloaded_error on /v1/messages, OpenAI's on /v1/responses.
TEST(MessagesCapacity, TheCapacity503IsInTheDialectsShape) {
  Upstream up;
  ASSERT_GT(up.port(), 0);
  TempDir dir;
  write_file(dir.file("triage.yaml"),
             "server: {host: 127.0.0.1, port: 0, threads: 1, max_requests_per_thread: 1}\n"
             "store: {type: none}\n"
             "models:\n"
             "  - {name: slow, provider: openai, upstream_model: \"mode:slow-3000\", endpoint: "
             "\"http://127.0.0.1:" + std::to_string(up.port()) + "/v1\"}\n");
  Gateway gw(dir.file("triage.yaml"), {});
  ASSERT_GT(gw.port(), 0) << gw.process().stderr_text();
  const std::map<std::string, std::string> json_type = {{"content-type", "application/json"}};
  HttpResponse held;
  std::thread holder([&] {
    held = http_request(gw.port(), "POST", "/v1/chat/completions",
                        R"({"model":"slow","messages":[{"role":"user","content":"hold"}]})",
                        json_type, Millis(10000));
  });
  // The one slot is taken once the upstream has the held request.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (up.request_count() < 1 && std::chrono::steady_clock::now() < until) {
  }
  ASSERT_GE(up.request_count(), 1);
  HttpResponse messages = http_request(
      gw.port(), "POST", "/v1/messages",
      R"({"model":"slow","max_tokens":5,"messages":[{"role":"user","content":"x"}]})", json_type);
  HttpResponse responses =
      http_request(gw.port(), "POST", "/v1/responses", R"({"model":"slow","input":"x"})", json_type);
  holder.join();
  EXPECT_EQ(held.status, 200) << held.body;
  ASSERT_EQ(messages.status, 503) << messages.body;
  EXPECT_EQ(messages.header("retry-after"), "1");
  EXPECT_EQ(messages.json().at("type"), "error") << messages.body;
  EXPECT_EQ(messages.json().at("error").at("type"), "overloaded_error") << messages.body;
  ASSERT_EQ(responses.status, 503) << responses.body;
  EXPECT_EQ(responses.json().at("error").at("code"), "service_unavailable") << responses.body;
}

}  // namespace
}  // namespace triage::testing

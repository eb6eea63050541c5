// An Anthropic upstream serving OpenAI-shaped requests (and Anthropic clients) through the real
// gateway: tools, tool calls, tool results and images reach it as Messages API blocks; its
// tool_use answers come back as tool_calls, whole and streamed; a matched stop sequence is
// reported to an Anthropic client.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "harness.h"

namespace triage::testing {
namespace {

namespace json = boost::json;

constexpr char kKey[] = "sk-test-SECRET-5e0b9d2c71";

std::string config_yaml(int upstream_port) {
  const std::string ep = "http://127.0.0.1:" + std::to_string(upstream_port) + "/v1";
  auto model = [&](const std::string& name, const std::string& upstream_model) {
    return "  - {name: " + name + ", provider: anthropic, endpoint: \"" + ep +
           "\", api_key_env: TEST_UPSTREAM_KEY, upstream_model: \"" + upstream_model +
           "\", tier: small, prices: {input: 0.5, output: 1.5}}\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
         "store: {type: none}\n"
         "models:\n" +
         model("claude", "claude-3-test") + model("claude-tools", "mode:tool-call") +
         model("claude-stop", "mode:stop-there");
}

class AnthropicUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(up_.port(), 0);
    ASSERT_TRUE(std::filesystem::exists(gateway_binary())) << gateway_binary();
    write_file(dir_.file("triage.yaml"), config_yaml(up_.port()));
    gw_ = std::make_unique<Gateway>(dir_.file("triage.yaml"),
                                    std::map<std::string, std::string>{{"TEST_UPSTREAM_KEY", kKey}});
    ASSERT_GT(gw_->port(), 0) << gw_->process().stderr_text();
  }
  HttpResponse chat(const std::string& body) {
    return http_request(gw_->port(), "POST", "/v1/chat/completions", body,
                        {{"content-type", "application/json"}});
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

constexpr char kTools[] =
    R"([{"type":"function","function":{"name":"weather","description":"Weather now",)"
    R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])";

std::string tool_body(const std::string& model, bool stream) {
  return R"({"model":")" + model + R"(","stream":)" + (stream ? "true" : "false") +
         R"(,"tools":)" + kTools + R"(,"messages":[{"role":"user","content":"weather in Paris"}]})";
}

TEST_F(AnthropicUpstreamTest, ToolsHistoryAndImagesReachItAsBlocks) {
  const std::string body =
      R"({"model":"claude","tools":)" + std::string(kTools) +
      R"(,"tool_choice":"required","messages":[)"
      R"({"role":"user","content":[{"type":"text","text":"weather where this is?"},)"
      R"({"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_7","type":"function",)"
      R"("function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_7","content":"18C"},)"
      R"({"role":"user","content":"so?"}]})";
  const HttpResponse r = chat(body);
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value last = up_.last_request();
  EXPECT_EQ(last.at("target"), "/v1/messages");
  const json::value sent = json::parse(last.at("body").as_string());
  EXPECT_EQ(sent.at("messages"), json::parse(R"([
      {"role":"user","content":[{"type":"text","text":"weather where this is?"},
        {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}]},
      {"role":"assistant","content":[{"type":"tool_use","id":"call_7","name":"weather",
        "input":{"city":"Paris"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_7","content":"18C"},
        {"type":"text","text":"so?"}]}])"));
  EXPECT_EQ(sent.at("tools").at(0).at("name"), "weather");
  EXPECT_EQ(sent.at("tools").at(0).at("input_schema").at("properties").at("city").at("type"),
            "string");
  EXPECT_EQ(sent.at("tool_choice"), json::parse(R"({"type":"any"})"));
}

TEST_F(AnthropicUpstreamTest, ItsToolUseComesBackAsToolCalls) {
  const HttpResponse r = chat(tool_body("claude-tools", false));
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value choice = r.json().at("choices").at(0);
  EXPECT_EQ(choice.at("finish_reason"), "tool_calls");
  const json::value call = choice.at("message").at("tool_calls").at(0);
  EXPECT_EQ(call.at("id"), "toolu_test");
  EXPECT_EQ(call.at("function").at("name"), "weather");
  EXPECT_EQ(json::parse(call.at("function").at("arguments").as_string()),
            json::parse(R"({"text":"weather in Paris"})"));
}

TEST_F(AnthropicUpstreamTest, ItsStreamedToolUseComesBackAsToolCallChunks) {
  const HttpResponse r = http_stream(gw_->port(), "/v1/chat/completions",
                                     tool_body("claude-tools", true),
                                     {{"content-type", "application/json"}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string name, arguments, finish;
  for (const SseEvent& e : parse_sse(r.body)) {
    if (e.data == "[DONE]") continue;
    const json::value chunk = json::parse(e.data);
    ASSERT_FALSE(chunk.as_object().contains("error")) << e.data;
    const json::value& choice = chunk.at("choices").at(0);
    if (choice.at("finish_reason").is_string()) finish = choice.at("finish_reason").as_string();
    const json::object& delta = choice.at("delta").as_object();
    if (!delta.contains("tool_calls")) continue;
    const json::object& call = delta.at("tool_calls").at(0).as_object();
    EXPECT_EQ(call.at("index"), 0);
    const json::object& fn = call.at("function").as_object();
    if (fn.contains("name")) name += fn.at("name").as_string();
    arguments += fn.at("arguments").as_string();
  }
  EXPECT_EQ(name, "weather");
  EXPECT_EQ(json::parse(arguments), json::parse(R"({"text":"weather in Paris"})"));
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(AnthropicUpstreamTest, AnAnthropicClientLearnsWhichStopSequenceEndedTheAnswer) {
  const std::string body =
      R"({"model":"claude-stop","max_tokens":32,"stop_sequences":["there"],"stream":)";
  const std::string rest = R"(,"messages":[{"role":"user","content":"hello there friend"}]})";
  const HttpResponse whole = http_request(gw_->port(), "POST", "/v1/messages",
                                          body + "false" + rest,
                                          {{"content-type", "application/json"}});
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.json().at("stop_reason"), "stop_sequence");
  EXPECT_EQ(whole.json().at("stop_sequence"), "there");
  EXPECT_EQ(whole.json().at("content").at(0).at("text"), "echo: hello ");

  const HttpResponse streamed = http_stream(gw_->port(), "/v1/messages", body + "true" + rest,
                                            {{"content-type", "application/json"}});
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  json::value last_delta;
  for (const SseEvent& e : parse_sse(streamed.body)) {
    if (e.event == "message_delta") last_delta = json::parse(e.data);
  }
  ASSERT_TRUE(last_delta.is_object()) << streamed.body;
  EXPECT_EQ(last_delta.at("delta").at("stop_reason"), "stop_sequence");
  EXPECT_EQ(last_delta.at("delta").at("stop_sequence"), "there");
}

TEST_F(AnthropicUpstreamTest, WhatItCannotTakeIsAClear400) {
  const HttpResponse r = chat(
      R"({"model":"claude","messages":[{"role":"user","content":[{"type":"input_audio",)"
      R"("input_audio":{"data":"AAAA","format":"wav"}}]}]})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("messages[0]: a 'input_audio' content part cannot be sent to an Anthropic model"),
            std::string::npos)
      << r.body;
}

}  // namespace
}  // namespace triage::testing

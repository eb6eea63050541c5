// POST /v1/responses (the OpenAI Responses dialect) on the real gateway against the real test
// upstream: the Response object, the exact stream event sequence, tool calls both ways, errors
// in OpenAI's shape (before and after the stream began), and the stateless refusals.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
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
           "\", tier: small, prices: {input: 0.5, output: 1.5}, retries: {max: 0}}\n";
  };
  return "server: {host: 127.0.0.1, port: 0, threads: 1}\n"
         "store: {type: none}\n"
         "models:\n" +
         model("up-ok", "gpt-test", "openai") + model("up-500", "mode:error-500", "openai") +
         model("up-tools", "mode:tool-call", "openai") + model("up-cut", "mode:cut", "openai") +
         model("claude-test", "claude-3-test", "anthropic") +
         "routes:\n  - {name: support, type: model, model: up-ok}\n";
}

class ResponsesTest : public ::testing::Test {
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
    return http_request(gw_->port(), "POST", "/v1/responses", body,
                        {{"content-type", "application/json"}});
  }
  HttpResponse stream(const std::string& body) {
    return http_stream(gw_->port(), "/v1/responses", body, {{"content-type", "application/json"}});
  }

  TempDir dir_;
  Upstream up_;
  std::unique_ptr<Gateway> gw_;
};

std::string body(const std::string& model, bool stream) {
  return R"({"model":")" + model + R"(","stream":)" + (stream ? "true" : "false") +
         R"(,"instructions":"be kind","input":"hello there friend","metadata":{"ticket":"t1"}})";
}

std::vector<std::string> names(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  for (const SseEvent& e : events) out.push_back(e.event);
  return out;
}

TEST_F(ResponsesTest, ServedByBothProviderKinds) {
  for (const std::string model : {"support", "claude-test"}) {
    SCOPED_TRACE(model);
    HttpResponse r = post(body(model, false));
    ASSERT_EQ(r.status, 200) << r.body;
    json::value v = r.json();
    EXPECT_EQ(v.at("object"), "response");
    EXPECT_EQ(std::string(v.at("id").as_string()).substr(0, 5), "resp_");
    EXPECT_EQ(v.at("status"), "completed");
    EXPECT_EQ(v.at("instructions"), "be kind");
    EXPECT_EQ(v.at("metadata").at("ticket"), "t1");
    const json::value& item = v.at("output").at(0);
    EXPECT_EQ(item.at("type"), "message");
    EXPECT_EQ(item.at("content").at(0).at("type"), "output_text");
    EXPECT_EQ(item.at("content").at(0).at("text"), "echo: hello there friend");
    // Upstream word counts: "be kind" + "hello there friend" = 5 in; the answer is 4 words.
    EXPECT_EQ(v.at("usage").at("input_tokens"), 5);
    EXPECT_EQ(v.at("usage").at("output_tokens"), 4);
    EXPECT_EQ(v.at("usage").at("total_tokens"), 9);
    EXPECT_EQ(r.header("x-triage-cost-usd").substr(0, 8), "0.000008");  // (5*0.5 + 4*1.5)/1e6
  }
}

TEST_F(ResponsesTest, UpstreamGetsTheChatShapeWithoutTheEchoedFields) {
  ASSERT_EQ(post(body("up-ok", false)).status, 200);
  json::value last = up_.last_request();
  EXPECT_EQ(last.at("target"), "/v1/chat/completions");
  json::value sent = json::parse(last.at("body").as_string());
  EXPECT_EQ(sent.at("messages"), json::parse(R"([{"role":"system","content":"be kind"},
      {"role":"user","content":"hello there friend"}])"));
  EXPECT_FALSE(sent.as_object().contains("metadata"));
  EXPECT_FALSE(sent.as_object().contains("instructions"));
  EXPECT_FALSE(sent.as_object().contains("input"));
}

TEST_F(ResponsesTest, MaxOutputTokensCutIsIncomplete) {
  HttpResponse r = post(R"({"model":"up-ok","input":"one two three four five","max_output_tokens":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().at("status"), "incomplete");
  EXPECT_EQ(r.json().at("incomplete_details").at("reason"), "max_output_tokens");
  const std::string text(r.json().at("output").at(0).at("content").at(0).at("text").as_string());
  EXPECT_EQ(text.substr(0, 9), "echo: one") << text;  // 2 words
  EXPECT_EQ(r.json().at("output").at(0).at("status"), "incomplete");
}

TEST_F(ResponsesTest, StreamEventSequence) {
  HttpResponse r = stream(body("up-ok", true));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type").substr(0, 17), "text/event-stream");
  const std::vector<SseEvent> events = parse_sse(r.body);
  std::vector<std::string> expected = {"response.created", "response.in_progress",
                                       "response.output_item.added",
                                       "response.content_part.added"};
  for (int i = 0; i < 4; ++i) expected.push_back("response.output_text.delta");  // one per word
  for (const char* e : {"response.output_text.done", "response.content_part.done",
                        "response.output_item.done", "response.completed"}) {
    expected.push_back(e);
  }
  EXPECT_EQ(names(events), expected) << r.body;
  std::string text;
  for (std::size_t i = 0; i < events.size(); ++i) {
    json::value d = json::parse(events[i].data);
    EXPECT_EQ(d.at("type"), events[i].event.c_str());
    EXPECT_EQ(d.at("sequence_number"), static_cast<int64_t>(i));
    if (events[i].event == "response.output_text.delta") text += d.at("delta").as_string();
  }
  EXPECT_EQ(text, "echo: hello there friend");
  json::value done = json::parse(events.back().data).at("response");
  EXPECT_EQ(done.at("status"), "completed");
  EXPECT_EQ(done.at("output").at(0).at("content").at(0).at("text"), "echo: hello there friend");
  EXPECT_EQ(done.at("usage").at("input_tokens"), 5);
  EXPECT_EQ(done.at("usage").at("output_tokens"), 4);
  EXPECT_EQ(done.at("metadata").at("ticket"), "t1");
}

constexpr char kTool[] =
    R"("tools":[{"type":"function","name":"lookup","description":"find a thing",)"
    R"("parameters":{"type":"object","properties":{"text":{"type":"string"}}}}])";

TEST_F(ResponsesTest, FunctionCallRoundTrip) {
  // The model calls the tool...
  HttpResponse r = post(std::string(R"({"model":"up-tools","input":"find cats",)") + kTool + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  const json::value call = r.json().at("output").at(0);
  EXPECT_EQ(call.at("type"), "function_call");
  EXPECT_EQ(call.at("call_id"), "call_test");
  EXPECT_EQ(call.at("name"), "lookup");
  EXPECT_EQ(json::parse(call.at("arguments").as_string()), json::parse(R"({"text":"find cats"})"));
  json::value sent = json::parse(up_.last_request().at("body").as_string());
  EXPECT_EQ(sent.at("tools").at(0).at("function").at("name"), "lookup");

  // ...and its output goes back as a tool message after the assistant's tool call.
  const std::string next = std::string(R"({"model":"up-ok","input":[
      {"role":"user","content":"find cats"},
      {"type":"function_call","call_id":"call_test","name":"lookup","arguments":"{\"text\":\"find cats\"}"},
      {"type":"function_call_output","call_id":"call_test","output":"3 cats"}],)") + kTool + "}";
  HttpResponse r2 = post(next);
  ASSERT_EQ(r2.status, 200) << r2.body;
  sent = json::parse(up_.last_request().at("body").as_string());
  EXPECT_EQ(sent.at("messages"), json::parse(R"([{"role":"user","content":"find cats"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_test","type":"function",
        "function":{"name":"lookup","arguments":"{\"text\":\"find cats\"}"}}]},
      {"role":"tool","tool_call_id":"call_test","content":"3 cats"}])"));
}

TEST_F(ResponsesTest, StreamedFunctionCallArguments) {
  HttpResponse r =
      stream(std::string(R"({"model":"up-tools","stream":true,"input":"find cats",)") + kTool + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<SseEvent> events = parse_sse(r.body);
  EXPECT_EQ(names(events), (std::vector<std::string>{
                               "response.created", "response.in_progress",
                               "response.output_item.added",
                               "response.function_call_arguments.delta",
                               "response.function_call_arguments.delta",
                               "response.function_call_arguments.done",
                               "response.output_item.done", "response.completed"}))
      << r.body;
  json::value done = json::parse(events[5].data);
  EXPECT_EQ(json::parse(done.at("arguments").as_string()), json::parse(R"({"text":"find cats"})"));
  json::value completed = json::parse(events.back().data).at("response");
  EXPECT_EQ(completed.at("output").at(0).at("type"), "function_call");
  EXPECT_EQ(completed.at("output").at(0).at("call_id"), "call_test");
}

TEST_F(ResponsesTest, ErrorsInOpenAIShape) {
  auto expect = [](const HttpResponse& r, int status, const std::string& type,
                   const std::string& says) {
    EXPECT_EQ(r.status, status) << r.body;
    json::value v = r.json();
    ASSERT_TRUE(v.is_object()) << r.body;
    EXPECT_EQ(v.at("error").at("type"), type.c_str()) << r.body;
    EXPECT_NE(std::string(v.at("error").at("message").as_string()).find(says), std::string::npos)
        << r.body;
  };
  expect(post(R"({"model":"up-ok","input":"x","tools":[{"type":"web_search"}]})"), 400,
         "invalid_request_error", "web_search");
  expect(post(R"({"model":"up-ok","input":"x","previous_response_id":"resp_1"})"), 400,
         "invalid_request_error", "stateless");
  expect(post(R"({"model":"up-ok"})"), 400, "invalid_request_error", "input");
  expect(post(body("nope", false)), 404, "invalid_request_error", "nope");
  expect(post(body("up-500", false)), 502, "upstream_error", "up-500");
  expect(http_request(gw_->port(), "GET", "/v1/responses"), 405, "invalid_request_error", "POST");
  HttpResponse bad = post(R"({"model":"up-ok","input":"x","store":true})");
  EXPECT_EQ(bad.json().at("error").at("param"), "store");
}

TEST_F(ResponsesTest, UpstreamFailureAfterTheStreamBegan) {
  HttpResponse r = stream(R"({"model":"up-cut","stream":true,"input":"hello there friend"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<SseEvent> events = parse_sse(r.body);
  ASSERT_GE(events.size(), 3u) << r.body;
  EXPECT_EQ(events.front().event, "response.created");
  EXPECT_EQ(events[events.size() - 2].event, "response.failed");
  json::value failed = json::parse(events[events.size() - 2].data).at("response");
  EXPECT_EQ(failed.at("status"), "failed");
  EXPECT_EQ(failed.at("error").at("code"), "bad_gateway");
  EXPECT_EQ(events.back().event, "error");
  json::value error = json::parse(events.back().data);
  EXPECT_EQ(error.at("error").at("type"), "upstream_error");
  EXPECT_GT(error.at("sequence_number").as_int64(), 0);
}

}  // namespace
}  // namespace triage::testing

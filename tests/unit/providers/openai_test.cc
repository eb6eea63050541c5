// Pure translation tests of the openai provider, plus the shared upstream error mapping.
#include "providers/openai.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "providers/upstream_errors.h"

namespace triage::providers {
namespace {

namespace json = boost::json;

core::ChatRequest request_from_body(std::string_view body) {
  core::ChatRequest req;
  req.body = json::parse(body).as_object();
  req.model = std::string(req.body["model"].as_string());
  for (const json::value& m : req.body["messages"].as_array()) {
    core::Message msg;
    msg.role = std::string(m.at("role").as_string());
    if (m.at("content").is_string()) msg.text = std::string(m.at("content").as_string());
    msg.raw = m;
    req.messages.push_back(std::move(msg));
  }
  return req;
}

TEST(OpenAIRequest, ForwardsBodyWithModelRewritten) {
  auto req = request_from_body(
      R"({"model":"support","messages":[{"role":"user","content":"hi \"there\""}],)"
      R"("tools":[{"type":"function","function":{"name":"f"}}],"seed":7,"stream":false,)"
      R"("stream_options":{"include_usage":false}})");
  json::value out = json::parse(openai::build_request_body(req, "gpt-4o-mini", false));
  EXPECT_EQ(out.at("model"), "gpt-4o-mini");
  EXPECT_EQ(out.at("seed"), 7);
  EXPECT_EQ(out.at("tools"), req.body.at("tools"));
  EXPECT_EQ(out.at("messages"), req.body.at("messages"));
  EXPECT_FALSE(out.as_object().contains("stream"));
  EXPECT_FALSE(out.as_object().contains("stream_options"));
}

TEST(OpenAIRequest, StreamingAlwaysAsksForUsage) {
  auto req = request_from_body(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":true})");
  json::value out = json::parse(openai::build_request_body(req, "up", true));
  EXPECT_EQ(out.at("stream"), true);
  EXPECT_EQ(out.at("stream_options").at("include_usage"), true);
  EXPECT_EQ(out.at("model"), "up");
}

TEST(OpenAIRequest, BuildsMessagesFromTypedFieldsWithoutBody) {
  core::ChatRequest req;
  req.messages.push_back({"system", "be brief", nullptr});
  req.messages.push_back({"user", "question?", nullptr});
  req.max_tokens = 50;
  req.temperature = 0.5;
  req.stop = {"END"};
  json::value out = json::parse(openai::build_request_body(req, "m", false));
  EXPECT_EQ(json::serialize(out.at("messages")),
            R"([{"role":"system","content":"be brief"},{"role":"user","content":"question?"}])");
  EXPECT_EQ(out.at("max_tokens"), 50);
  EXPECT_EQ(out.at("temperature"), 0.5);
  EXPECT_EQ(out.at("stop").at(0), "END");
}

TEST(OpenAIResponse, ParsesContentUsageAndToolCalls) {
  bool reported = false;
  auto c = openai::parse_response(
      R"({"id":"x","model":"gpt-4o-2024","choices":[{"index":0,"message":{"role":"assistant",)"
      R"("content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f",)"
      R"("arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],)"
      R"("usage":{"prompt_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":8}}})",
      "gpt-4o", reported);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(reported);
  EXPECT_EQ(c->model, "gpt-4o");
  EXPECT_EQ(c->upstream_model, "gpt-4o-2024");
  EXPECT_EQ(c->content, "");
  EXPECT_EQ(c->finish_reason, "tool_calls");
  EXPECT_EQ(c->tool_calls.at(0).at("function").at("arguments"), "{\"a\":1}");
  EXPECT_EQ(c->usage.prompt_tokens, 12);
  EXPECT_EQ(c->usage.completion_tokens, 3);
  EXPECT_EQ(c->usage.cached_prompt_tokens, 8);
  EXPECT_FALSE(c->usage.estimated);
}

TEST(OpenAIResponse, MissingUsageIsEstimatedByTheCaller) {
  bool reported = true;
  auto c = openai::parse_response(
      R"({"choices":[{"message":{"content":"four words right here"},"finish_reason":"length"}]})",
      "m", reported);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(reported);
  EXPECT_EQ(c->finish_reason, "length");
  core::ChatRequest req;
  req.messages.push_back({"user", "how many tokens is this prompt", nullptr});
  estimate_usage_if_missing(req, *c, reported);
  EXPECT_TRUE(c->usage.estimated);
  EXPECT_GT(c->usage.prompt_tokens, 0);
  EXPECT_GT(c->usage.completion_tokens, 0);
}

TEST(OpenAIResponse, InvalidBodies) {
  bool reported;
  for (const char* body : {"not json", "[1,2]", R"({"choices":[]})", R"({"object":"x"})",
                           R"({"choices":[{"text":"legacy"}]})"}) {
    auto c = openai::parse_response(body, "m", reported);
    ASSERT_FALSE(c.ok()) << body;
    EXPECT_EQ(c.error().code, ErrorCode::kUpstreamError);
    EXPECT_NE(c.error().message.find("upstream returned an invalid response"), std::string::npos);
  }
}

struct Collected {
  std::string roles, content;
  int tool_deltas = 0;
  bool done = false;
};

Result<Collected> feed(openai::ChunkAssembler& a, const std::vector<std::string>& events) {
  Collected got;
  for (const std::string& data : events) {
    auto step = a.on_event("", data);
    if (!step) return std::move(step).error();
    if (step->has_delta) {
      got.roles.append(step->delta.role);
      got.content.append(step->delta.content);
      if (step->delta.tool_calls) ++got.tool_deltas;
    }
    if (step->done) {
      got.done = true;
      break;
    }
  }
  return got;
}

TEST(OpenAIStream, AssemblesDeltasUsageAndDone) {
  openai::ChunkAssembler a("m");
  auto got = feed(
      a,
      {
          R"({"model":"up-1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})",
          R"({"choices":[{"index":0,"delta":{"content":"Hel"}}]})",
          R"({"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]})",
          R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}]})",
          R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}})",
          "[DONE]",
          R"({"never":"read"})",
      });
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_TRUE(got->done);
  EXPECT_EQ(got->roles, "assistant");
  EXPECT_EQ(got->content, "Hello");
  core::Completion& c = a.completion();
  EXPECT_EQ(c.content, "Hello");
  EXPECT_EQ(c.finish_reason, "length");
  EXPECT_EQ(c.upstream_model, "up-1");
  EXPECT_TRUE(a.reported_usage());
  EXPECT_EQ(c.usage.prompt_tokens, 5);
  EXPECT_EQ(c.usage.completion_tokens, 2);
}

TEST(OpenAIStream, MergesToolCallFragments) {
  openai::ChunkAssembler a("m");
  auto got = feed(
      a,
      {
          R"({"choices":[{"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a",)"
          R"("type":"function","function":{"name":"get_weather","arguments":""}}]}}]})",
          R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]})",
          R"({"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"t","arguments":"{}"}}]}}]})",
          R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]})",
          R"({"choices":[{"delta":{},"finish_reason":"tool_calls"}]})",
          "[DONE]",
      });
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->tool_deltas, 4);
  const json::value& tc = a.completion().tool_calls;
  ASSERT_TRUE(tc.is_array());
  ASSERT_EQ(tc.as_array().size(), 2u);
  EXPECT_EQ(tc.at(0).at("id"), "call_a");
  EXPECT_EQ(tc.at(0).at("function").at("name"), "get_weather");
  EXPECT_EQ(tc.at(0).at("function").at("arguments"), "{\"city\":\"Paris\"}");
  EXPECT_EQ(tc.at(1).at("id"), "call_b");
  EXPECT_EQ(tc.at(1).at("type"), "function");
  EXPECT_EQ(a.completion().finish_reason, "tool_calls");
}

TEST(OpenAIStream, ErrorsMidStream) {
  {
    openai::ChunkAssembler a("m");
    auto got = feed(a, {R"({"error":{"message":"overloaded, try later"}})"});
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, ErrorCode::kUpstreamError);
    EXPECT_NE(got.error().message.find("overloaded, try later"), std::string::npos);
  }
  {
    openai::ChunkAssembler a("m");
    auto got = feed(a, {R"({"choices":[{"delta":{"content":"a"}}]})", "{broken"});
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.error().message.find("invalid response"), std::string::npos);
  }
}

TEST(UpstreamErrors, StatusMapping) {
  const std::string body = R"({"error":{"message":"max_tokens is too large","type":"x"}})";
  Error e = map_upstream_status(400, body, "gpt", "OPENAI_API_KEY");
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.message, "upstream rejected the request: max_tokens is too large");

  e = map_upstream_status(401, R"({"error":{"message":"Incorrect API key provided: sk-abc"}})",
                          "gpt", "OPENAI_API_KEY");
  EXPECT_EQ(e.code, ErrorCode::kUpstreamError);
  // The client is told who must act; the variable's name is for the log and the store only.
  EXPECT_EQ(e.message,
            "upstream rejected the gateway's API key for model gpt; the gateway's operator must "
            "fix it");
  EXPECT_EQ(e.message.find("OPENAI_API_KEY"), std::string::npos) << "env var names stay inside";
  EXPECT_EQ(e.internal, "HTTP 401: check env var OPENAI_API_KEY");
  EXPECT_EQ(e.internal.find("sk-abc"), std::string::npos);
  EXPECT_EQ(map_upstream_status(403, "", "gpt", "K").code, ErrorCode::kUpstreamError);
  EXPECT_EQ(map_upstream_status(404, body, "gpt", "K").code, ErrorCode::kUpstreamError);
  EXPECT_EQ(map_upstream_status(408, body, "gpt", "K").code, ErrorCode::kUpstreamTimeout);
  EXPECT_EQ(map_upstream_status(504, body, "gpt", "K").code, ErrorCode::kUpstreamTimeout);
  EXPECT_EQ(map_upstream_status(429, body, "gpt", "K").code, ErrorCode::kRateLimited);
  EXPECT_EQ(map_upstream_status(500, body, "gpt", "K").code, ErrorCode::kUpstreamError);
  EXPECT_EQ(map_upstream_status(503, "<html>busy</html>", "gpt", "K").message,
            "upstream failed with HTTP 503 for model gpt: <html>busy</html>");
  // Anthropic's error shape is read the same way.
  EXPECT_EQ(map_upstream_status(
                400, R"({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})",
                "claude", "K")
                .message,
            "upstream rejected the request: bad");
}

TEST(UpstreamErrors, LongBodiesAreTruncated) {
  std::string text = upstream_error_text(std::string(5000, 'x'));
  EXPECT_LT(text.size(), 400u);
}

TEST(OpenAIFactory, MissingKeyFailsCallsAndBadEndpointThrows) {
  config::Config cfg;
  cfg.path = "triage.yaml";
  config::Model m;
  m.name = "gpt";
  m.provider = "openai";
  m.endpoint = "http://127.0.0.1:1/v1";
  m.api_key_env = "TRIAGE_TEST_UNSET_KEY";
  EnvLookup none = [](const char*) -> const char* { return nullptr; };
  auto client = make_openai_client(cfg, m, none);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->name(), "openai/1");
  Error e = missing_key_error("gpt", "TRIAGE_TEST_UNSET_KEY");
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_EQ(e.message,
            "model gpt is unavailable: its upstream API key is not configured on the gateway");
  EXPECT_EQ(e.message.find("TRIAGE_TEST_UNSET_KEY"), std::string::npos);
  EXPECT_EQ(e.internal, "environment variable TRIAGE_TEST_UNSET_KEY is not set");

  m.endpoint = "ftp://nope";
  EXPECT_THROW(make_openai_client(cfg, m, none), config::ConfigError);
  m.endpoint = "http://127.0.0.1:1/v1";
  EnvLookup crlf = [](const char*) -> const char* { return "sk-1\r\nX-Evil: 1"; };
  try {
    make_openai_client(cfg, m, crlf);
    ADD_FAILURE() << "expected ConfigError";
  } catch (const config::ConfigError& err) {
    EXPECT_EQ(std::string(err.what()).find("sk-1"), std::string::npos);
    EXPECT_NE(std::string(err.what()).find("TRIAGE_TEST_UNSET_KEY"), std::string::npos);
  }
}

}  // namespace
}  // namespace triage::providers

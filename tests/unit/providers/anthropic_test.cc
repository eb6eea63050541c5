// Pure translation tests of the anthropic provider.
#include "providers/anthropic.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace triage::providers {
namespace {

namespace json = boost::json;

config::Model claude() {
  config::Model m;
  m.name = "claude";
  m.provider = "anthropic";
  m.upstream_model = "claude-3-5-haiku-latest";
  return m;
}

AnthropicOptions options() {
  AnthropicOptions o;
  o.default_max_tokens = 777;
  return o;
}

core::Message msg(std::string role, std::string text) { return {role, text, nullptr}; }

TEST(AnthropicRequest, TranslatesSystemMergesTurnsAndOptions) {
  core::ChatRequest req;
  req.messages = {msg("system", "Be terse."), msg("developer", "No emojis."),
                  msg("user", "Hi"),          msg("user", "Still there?"),
                  msg("assistant", ""),       msg("assistant", "Yes."),
                  msg("tool", "42"),          msg("user", "Thanks")};
  req.temperature = 0.25;
  req.top_p = 0.9;
  req.stop = {"\n\nHuman:", "END"};
  req.max_tokens = 99;
  json::value out = json::parse(anthropic::build_request_body(req, claude(), options(), true));
  EXPECT_EQ(out.at("model"), "claude-3-5-haiku-latest");
  EXPECT_EQ(out.at("max_tokens"), 99);
  EXPECT_EQ(out.at("system"), "Be terse.\n\nNo emojis.");
  EXPECT_EQ(json::serialize(out.at("messages")),
            R"([{"role":"user","content":"Hi\n\nStill there?"},)"
            R"({"role":"assistant","content":"Yes."},)"
            R"({"role":"user","content":"42\n\nThanks"}])");
  EXPECT_EQ(out.at("temperature"), 0.25);
  EXPECT_EQ(out.at("top_p"), 0.9);
  EXPECT_EQ(out.at("stop_sequences").at(1), "END");
  EXPECT_EQ(out.at("stream"), true);
}

TEST(AnthropicRequest, DefaultsMaxTokensAndOmitsAbsentFields) {
  core::ChatRequest req;
  req.messages = {msg("user", "q")};
  config::Model m = claude();
  m.upstream_model.clear();
  json::object out = json::parse(anthropic::build_request_body(req, m, options(), false)).as_object();
  EXPECT_EQ(out.at("model"), "claude");
  EXPECT_EQ(out.at("max_tokens"), 777);
  for (const char* absent : {"system", "temperature", "top_p", "stop_sequences", "stream"}) {
    EXPECT_FALSE(out.contains(absent)) << absent;
  }
}

TEST(AnthropicResponse, JoinsTextAndMapsUsage) {
  bool reported = false;
  auto c = anthropic::parse_response(
      R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022",)"
      R"("content":[{"type":"text","text":"Hello, "},{"type":"text","text":"world"}],)"
      R"("stop_reason":"max_tokens","usage":{"input_tokens":10,"cache_read_input_tokens":90,)"
      R"("output_tokens":4}})",
      "claude", reported);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(reported);
  EXPECT_EQ(c->content, "Hello, world");
  EXPECT_EQ(c->finish_reason, "length");
  EXPECT_EQ(c->model, "claude");
  EXPECT_EQ(c->upstream_model, "claude-3-5-haiku-20241022");
  EXPECT_EQ(c->usage.prompt_tokens, 100);
  EXPECT_EQ(c->usage.cached_prompt_tokens, 90);
  EXPECT_EQ(c->usage.completion_tokens, 4);
  EXPECT_TRUE(c->tool_calls.is_null());
}

TEST(AnthropicResponse, ToolUseBecomesToolCalls) {
  bool reported;
  auto c = anthropic::parse_response(
      R"({"content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1",)"
      R"("name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use"})",
      "claude", reported);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(reported);
  EXPECT_EQ(c->finish_reason, "tool_calls");
  EXPECT_EQ(c->tool_calls.at(0).at("id"), "toolu_1");
  EXPECT_EQ(c->tool_calls.at(0).at("function").at("name"), "get_weather");
  EXPECT_EQ(c->tool_calls.at(0).at("function").at("arguments"), R"({"city":"Paris"})");
}

TEST(AnthropicResponse, StopReasons) {
  EXPECT_EQ(anthropic::finish_reason("end_turn"), "stop");
  EXPECT_EQ(anthropic::finish_reason("stop_sequence"), "stop");
  EXPECT_EQ(anthropic::finish_reason("max_tokens"), "length");
  EXPECT_EQ(anthropic::finish_reason("tool_use"), "tool_calls");
}

TEST(AnthropicResponse, Invalid) {
  bool reported;
  for (const char* body : {"", "nope", R"({"type":"message"})", R"({"content":"text"})"}) {
    auto c = anthropic::parse_response(body, "claude", reported);
    ASSERT_FALSE(c.ok()) << body;
    EXPECT_EQ(c.error().code, ErrorCode::kUpstreamError);
  }
}

// A recorded Messages API stream (event name, data).
const std::vector<std::pair<std::string, std::string>> kRecorded = {
    {"message_start",
     R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",)"
     R"("model":"claude-3-5-haiku-20241022","content":[],"stop_reason":null,)"
     R"("usage":{"input_tokens":25,"cache_read_input_tokens":5,"output_tokens":1}}})"},
    {"content_block_start",
     R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"},
    {"ping", R"({"type": "ping"})"},
    {"content_block_delta",
     R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})"},
    {"content_block_delta",
     R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}})"},
    {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
    {"message_delta",
     R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},)"
     R"("usage":{"output_tokens":15}})"},
    {"message_stop", R"({"type":"message_stop"})"},
};

TEST(AnthropicStream, RecordedSequence) {
  anthropic::EventAssembler a("claude");
  std::vector<std::string> deltas;
  std::string roles;
  bool done = false;
  for (const auto& [event, data] : kRecorded) {
    ASSERT_FALSE(done) << "events after message_stop";
    auto step = a.on_event(event, data);
    ASSERT_TRUE(step.ok()) << step.error().message;
    if (step->has_delta) {
      deltas.emplace_back(step->delta.content);
      roles.append(step->delta.role);
    }
    done = step->done;
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(deltas, (std::vector<std::string>{"Hello", "!"}));
  EXPECT_EQ(roles, "assistant");
  const core::Completion& c = a.completion();
  EXPECT_EQ(c.content, "Hello!");
  EXPECT_EQ(c.finish_reason, "stop");
  EXPECT_EQ(c.upstream_model, "claude-3-5-haiku-20241022");
  EXPECT_EQ(c.usage.prompt_tokens, 30);
  EXPECT_EQ(c.usage.cached_prompt_tokens, 5);
  EXPECT_EQ(c.usage.completion_tokens, 15);
  EXPECT_TRUE(a.reported_usage());
}

TEST(AnthropicStream, ErrorEvent) {
  anthropic::EventAssembler a("claude");
  ASSERT_TRUE(a.on_event("message_start", kRecorded[0].second).ok());
  auto step = a.on_event(
      "error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.error().code, ErrorCode::kUpstreamError);
  EXPECT_NE(step.error().message.find("Overloaded"), std::string::npos);
}

TEST(AnthropicStream, GarbageEvent) {
  anthropic::EventAssembler a("claude");
  auto step = a.on_event("content_block_delta", "{not json");
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.error().code, ErrorCode::kUpstreamError);
}

TEST(AnthropicFactory, Name) {
  config::Config cfg;
  config::Model m = claude();
  m.endpoint = "http://127.0.0.1:1/v1";
  auto client = make_anthropic_client(cfg, m, [](const char*) -> const char* { return nullptr; });
  EXPECT_EQ(client->name(), "anthropic/1");
}

}  // namespace
}  // namespace triage::providers

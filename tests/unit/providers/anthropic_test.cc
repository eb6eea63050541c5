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
  json::value out = json::parse(anthropic::build_request_body(req, claude(), options(), true).value());
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
  json::object out =
      json::parse(anthropic::build_request_body(req, m, options(), false).value()).as_object();
  EXPECT_EQ(out.at("model"), "claude");
  EXPECT_EQ(out.at("max_tokens"), 777);
  for (const char* absent : {"system", "temperature", "top_p", "stop_sequences", "stream"}) {
    EXPECT_FALSE(out.contains(absent)) << absent;
  }
}

// A message as the chat reader leaves it: the text, and the client's message as `raw`.
core::Message raw_msg(std::string role, std::string text, const char* raw) {
  return {std::move(role), std::move(text), json::parse(raw)};
}

TEST(AnthropicRequest, ToolsToolCallsToolResultsAndImagesBecomeBlocks) {
  core::ChatRequest req;
  req.messages = {
      raw_msg("user", "What is in this picture, and the weather there?",
              R"({"role":"user","content":[{"type":"text","text":"What is in this picture,"},)"
              R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0K"}},)"
              R"({"type":"text","text":"and the weather there?"},)"
              R"({"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}}]})"),
      raw_msg("assistant", "Checking.",
              R"({"role":"assistant","content":"Checking.","tool_calls":[{"id":"call_1",)"
              R"("type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]})"),
      raw_msg("tool", "18C and sunny", R"({"role":"tool","tool_call_id":"call_1","content":"18C and sunny"})"),
      raw_msg("user", "Thanks", R"({"role":"user","content":"Thanks"})")};
  req.body = json::parse(
                 R"({"tools":[{"type":"function","function":{"name":"weather","description":"Now",)"
                 R"("parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],)"
                 R"("tool_choice":{"type":"function","function":{"name":"weather"}},)"
                 R"("parallel_tool_calls":false})")
                 .as_object();
  auto body = anthropic::build_request_body(req, claude(), options(), false);
  ASSERT_TRUE(body.ok()) << body.error().message;
  const json::value out = json::parse(*body);
  EXPECT_EQ(json::serialize(out.at("messages")),
            R"([{"role":"user","content":[{"type":"text","text":"What is in this picture,"},)"
            R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},)"
            R"({"type":"text","text":"and the weather there?"},)"
            R"({"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}}]},)"
            R"({"role":"assistant","content":[{"type":"text","text":"Checking."},)"
            R"({"type":"tool_use","id":"call_1","name":"weather","input":{"city":"Paris"}}]},)"
            R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"18C and sunny"},)"
            R"({"type":"text","text":"Thanks"}]}])");
  EXPECT_EQ(json::serialize(out.at("tools")),
            R"([{"name":"weather","description":"Now","input_schema":{"type":"object",)"
            R"("properties":{"city":{"type":"string"}}}}])");
  EXPECT_EQ(json::serialize(out.at("tool_choice")),
            R"({"type":"tool","name":"weather","disable_parallel_tool_use":true})");

  req.body = json::parse(R"({"tool_choice":"required"})").as_object();
  EXPECT_EQ(json::parse(anthropic::build_request_body(req, claude(), options(), false).value())
                .at("tool_choice"),
            json::parse(R"({"type":"any"})"));
}

TEST(AnthropicRequest, WhatTheMessagesApiCannotTakeIsA400NamingIt) {
  const auto refused = [](std::vector<core::Message> messages, const char* body,
                          const std::string& want) {
    core::ChatRequest req;
    req.messages = std::move(messages);
    req.body = json::parse(body).as_object();
    auto r = anthropic::build_request_body(req, claude(), options(), false);
    ASSERT_FALSE(r.ok()) << "accepted: " << *r;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(r.error().message.find(want), std::string::npos) << r.error().message;
  };
  refused({raw_msg("user", "", R"({"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}},)"
                               R"({"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]})")},
          "{}", "messages[0]: a 'input_audio' content part cannot be sent to an Anthropic model");
  refused({msg("user", "hi"),
           raw_msg("assistant", "", R"({"role":"assistant","tool_calls":[{"id":"c","type":"function",)"
                                    R"("function":{"name":"f","arguments":"[1,2]"}}]})")},
          "{}", "messages[1]: a tool call whose arguments are not a JSON object");
  refused({raw_msg("user", "", R"({"role":"user","content":[{"type":"image_url","image_url":)"
                               R"({"url":"data:image/png,notbase64"}}]})")},
          "{}", "not base64");
  refused({msg("user", "hi")}, R"({"tools":[{"type":"web_search"}]})",
          "tools[0]: only function tools");
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

TEST(AnthropicResponse, AMatchedStopSequenceIsKept) {
  bool reported;
  auto c = anthropic::parse_response(
      R"({"content":[{"type":"text","text":"1, 2, 3"}],"stop_reason":"stop_sequence",)"
      R"("stop_sequence":"END"})",
      "claude", reported);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->finish_reason, "stop");
  EXPECT_EQ(c->stop_sequence, "END");
}

TEST(AnthropicStream, ToolUseBlocksStreamAsToolCallDeltas) {
  anthropic::EventAssembler a("claude");
  const std::vector<std::pair<std::string, std::string>> events = {
      {"message_start", R"({"type":"message_start","message":{"model":"m","usage":{"input_tokens":9}}})"},
      {"content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"On it."}})"},
      {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
      {"content_block_start", R"({"type":"content_block_start","index":1,"content_block":)"
                              R"({"type":"tool_use","id":"toolu_9","name":"weather","input":{}}})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}})"},
      {"content_block_stop", R"({"type":"content_block_stop","index":1})"},
      {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":12}})"},
      {"message_stop", R"({"type":"message_stop"})"}};
  std::vector<std::string> tool_deltas;
  std::string roles;
  for (const auto& [event, data] : events) {
    auto step = a.on_event(event, data);
    ASSERT_TRUE(step.ok()) << step.error().message;
    if (!step->has_delta) continue;
    roles.append(step->delta.role);
    if (step->delta.tool_calls) tool_deltas.push_back(json::serialize(*step->delta.tool_calls));
  }
  EXPECT_EQ(roles, "assistant");  // once, on the first delta
  EXPECT_EQ(tool_deltas,
            (std::vector<std::string>{
                R"([{"index":0,"id":"toolu_9","type":"function","function":{"name":"weather","arguments":""}}])",
                R"([{"index":0,"function":{"arguments":"{\"city\":"}}])",
                R"([{"index":0,"function":{"arguments":"\"Paris\"}"}}])"}));
  const core::Completion& c = a.completion();
  EXPECT_EQ(c.content, "On it.");
  EXPECT_EQ(c.finish_reason, "tool_calls");
  EXPECT_EQ(json::serialize(c.tool_calls),
            R"([{"index":0,"id":"toolu_9","type":"function","function":{"name":"weather",)"
            R"("arguments":"{\"city\":\"Paris\"}"}}])");
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

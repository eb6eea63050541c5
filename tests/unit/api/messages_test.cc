// The Anthropic Messages dialect: request translation to the OpenAI shape, answers, stream
// events and errors in Anthropic's shape.
#include "api/messages.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

namespace triage::api::messages {
namespace {

namespace json = boost::json;

core::ChatRequest parse_ok(std::string_view body) {
  Result<core::ChatRequest> r = parse_request(body);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? std::move(r).value() : core::ChatRequest{};
}

Error parse_fail(std::string_view body) {
  Result<core::ChatRequest> r = parse_request(body);
  EXPECT_FALSE(r);
  return r ? Error{} : r.error();
}

TEST(MessagesRequest, SystemTurnsAndSamplingBecomeTheOpenAIShape) {
  core::ChatRequest req = parse_ok(R"({"model":"support","max_tokens":50,
      "system":[{"type":"text","text":"be"},{"type":"text","text":"brief"}],
      "messages":[{"role":"user","content":"hi"},
                  {"role":"assistant","content":[{"type":"text","text":"hello"}]},
                  {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
      "temperature":0.5,"top_p":0.9,"stop_sequences":["END"],"metadata":{"user_id":"u1"},
      "stream":true})");
  EXPECT_EQ(req.model, "support");
  EXPECT_EQ(req.max_tokens, 50);
  EXPECT_TRUE(req.stream);
  EXPECT_TRUE(req.include_usage);  // the closing message_delta needs usage
  EXPECT_EQ(req.meta.user, "u1");
  ASSERT_EQ(req.messages.size(), 4u);
  EXPECT_EQ(req.messages[0].role, "system");
  EXPECT_EQ(req.messages[0].text, "be\nbrief");
  EXPECT_EQ(req.messages[3].text, "a\nb");
  EXPECT_EQ(req.last_user_text(), "a\nb");
  EXPECT_EQ(req.stop, std::vector<std::string>{"END"});
  const json::value expected = json::parse(R"({"model":"support","max_tokens":50,
      "messages":[{"role":"system","content":"be\nbrief"},{"role":"user","content":"hi"},
                  {"role":"assistant","content":"hello"},{"role":"user","content":"a\nb"}],
      "stream":true,"temperature":0.5,"top_p":0.9,"stop":["END"],"user":"u1"})");
  EXPECT_EQ(json::value(req.body), expected) << json::serialize(req.body);
}

TEST(MessagesRequest, ToolsToolUseAndToolResults) {
  core::ChatRequest req = parse_ok(R"({"model":"m","max_tokens":5,
      "tools":[{"name":"lookup","description":"d","input_schema":{"type":"object"}}],
      "tool_choice":{"type":"tool","name":"lookup","disable_parallel_tool_use":true},
      "messages":[{"role":"user","content":"find"},
        {"role":"assistant","content":[{"type":"text","text":"let me"},
          {"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q":"x"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",
          "content":[{"type":"text","text":"found"}]},{"type":"text","text":"thanks"}]}]})");
  const json::value expected = json::parse(R"({"model":"m","max_tokens":5,"messages":[
      {"role":"user","content":"find"},
      {"role":"assistant","content":"let me","tool_calls":[{"id":"toolu_1","type":"function",
        "function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]},
      {"role":"tool","tool_call_id":"toolu_1","content":"found"},
      {"role":"user","content":"thanks"}],
      "tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"},
        "description":"d"}}],
      "tool_choice":{"type":"function","function":{"name":"lookup"}},
      "parallel_tool_calls":false})");
  EXPECT_EQ(json::value(req.body), expected) << json::serialize(req.body);
  ASSERT_EQ(req.messages.size(), 4u);
  EXPECT_EQ(req.messages[2].role, "tool");
  EXPECT_EQ(req.messages[2].text, "found");
}

TEST(MessagesRequest, ToolChoiceKinds) {
  auto choice = [](std::string_view tc) {
    core::ChatRequest r = parse_ok(std::string(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tool_choice":)") +
                                   std::string(tc) + "}");
    return json::serialize(r.body.at("tool_choice"));
  };
  EXPECT_EQ(choice(R"({"type":"auto"})"), R"("auto")");
  EXPECT_EQ(choice(R"({"type":"any"})"), R"("required")");
  EXPECT_EQ(choice(R"({"type":"none"})"), R"("none")");
}

TEST(MessagesRequest, ImagesBecomeImageUrlParts) {
  core::ChatRequest req = parse_ok(R"({"model":"m","max_tokens":1,"messages":[{"role":"user",
      "content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"QUJD"}},
                 {"type":"image","source":{"type":"url","url":"https://x/y.png"}},
                 {"type":"text","text":"what is it"}]}]})");
  const json::value expected = json::parse(R"([
      {"type":"image_url","image_url":{"url":"data:image/png;base64,QUJD"}},
      {"type":"image_url","image_url":{"url":"https://x/y.png"}},
      {"type":"text","text":"what is it"}])");
  EXPECT_EQ(req.body.at("messages").at(0).at("content"), expected);
  EXPECT_EQ(req.messages[0].text, "what is it");
}

TEST(MessagesRequest, BadInputSaysWhatToFix) {
  Error e = parse_fail(R"({"model":"m","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.param, "max_tokens");
  EXPECT_EQ(parse_fail(R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]})").param,
            "max_tokens");
  EXPECT_EQ(parse_fail(R"({"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]})").param,
            "messages[0].role");
  EXPECT_EQ(parse_fail(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document"}]}]})").param,
            "messages[0].content[0].type");
  EXPECT_EQ(parse_fail(R"({"model":"m","max_tokens":1,"temperature":1.5,"messages":[{"role":"user","content":"x"}]})").param,
            "temperature");
  EXPECT_EQ(parse_fail(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"w"}]})").param,
            "tools[0].type");
  EXPECT_EQ(parse_fail(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled"}})").param,
            "thinking");
  EXPECT_EQ(parse_fail(R"({"model":"m","max_tokens":1,"messages":[]})").param, "messages");
  EXPECT_EQ(parse_fail("{nope").code, ErrorCode::kInvalidRequest);
}

TEST(MessagesResponse, StopReasonsBothWays) {
  EXPECT_EQ(stop_reason("stop"), "end_turn");
  EXPECT_EQ(stop_reason("length"), "max_tokens");
  EXPECT_EQ(stop_reason("tool_calls"), "tool_use");
  EXPECT_EQ(stop_reason("content_filter"), "refusal");
  EXPECT_EQ(finish_reason("end_turn"), "stop");
  EXPECT_EQ(finish_reason("stop_sequence"), "stop");
  EXPECT_EQ(finish_reason("max_tokens"), "length");
  EXPECT_EQ(finish_reason("tool_use"), "tool_calls");
}

ResponseInfo info() {
  ResponseInfo i;
  i.model = "up-ok";
  i.triage.request_id = "req_00ab";
  return i;
}

TEST(MessagesResponse, MessageWithTextToolUseAndUsage) {
  core::Completion c;
  c.content = "calling";
  c.finish_reason = "tool_calls";
  c.usage.prompt_tokens = 10;
  c.usage.cached_prompt_tokens = 4;
  c.usage.completion_tokens = 3;
  c.tool_calls = json::parse(
      R"([{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}])");
  json::object m = json::parse(serialize_message(info(), c)).as_object();
  EXPECT_EQ(m.at("id"), "msg_00ab");
  EXPECT_EQ(m.at("type"), "message");
  EXPECT_EQ(m.at("role"), "assistant");
  EXPECT_EQ(m.at("model"), "up-ok");
  EXPECT_EQ(m.at("stop_reason"), "tool_use");
  EXPECT_EQ(m.at("content"), json::parse(R"([{"type":"text","text":"calling"},
      {"type":"tool_use","id":"call_1","name":"f","input":{"a":1}}])"));
  EXPECT_EQ(m.at("usage"),
            json::parse(R"({"input_tokens":6,"cache_read_input_tokens":4,"output_tokens":3})"));
  EXPECT_EQ(m.at("triage").at("request_id"), "req_00ab");
}

// The events of a rendered stream: (event name, data object).
std::vector<std::pair<std::string, json::object>> events(const std::string& sse) {
  std::vector<std::pair<std::string, json::object>> out;
  std::size_t pos = 0;
  while (pos < sse.size()) {
    const std::size_t end = sse.find("\n\n", pos);
    const std::string ev = sse.substr(pos, end - pos);
    pos = end + 2;
    const std::size_t nl = ev.find('\n');
    EXPECT_EQ(ev.substr(0, 7), "event: ");
    EXPECT_EQ(ev.substr(nl + 1, 6), "data: ");
    json::object data = json::parse(ev.substr(nl + 7)).as_object();
    EXPECT_EQ(data.at("type").as_string(), ev.substr(7, nl - 7));
    out.emplace_back(ev.substr(7, nl - 7), std::move(data));
  }
  return out;
}

TEST(MessagesResponse, TheStopSequenceThatEndedTheAnswerIsNamed) {
  core::Completion c;
  c.content = "1, 2, 3";
  json::object plain = json::parse(serialize_message(info(), c)).as_object();
  EXPECT_EQ(plain.at("stop_reason"), "end_turn");
  EXPECT_TRUE(plain.at("stop_sequence").is_null());
  c.stop_sequence = "END";
  json::object stopped = json::parse(serialize_message(info(), c)).as_object();
  EXPECT_EQ(stopped.at("stop_reason"), "stop_sequence");
  EXPECT_EQ(stopped.at("stop_sequence"), "END");

  auto r = make_stream_renderer();
  std::string out;
  r->begin("req_00ab", 0, "up-ok", out);
  r->end(c, TriageInfo{}, out);
  const auto ev = events(out);
  ASSERT_GE(ev.size(), 2u);
  const json::value& delta = ev[ev.size() - 2].second.at("delta");
  EXPECT_EQ(delta.at("stop_reason"), "stop_sequence");
  EXPECT_EQ(delta.at("stop_sequence"), "END");
}

TEST(MessagesStream, TextThenToolCallEventSequence) {
  auto r = make_stream_renderer();
  std::string out;
  r->begin("req_00ab", 0, "up-ok", out);
  core::Delta d;
  d.content = "hel";
  r->delta(d, out);
  d.content = "lo";
  r->delta(d, out);
  const json::value head = json::parse(
      R"([{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}])");
  const json::value piece = json::parse(R"([{"index":0,"function":{"arguments":"{\"a\":"}}])");
  const json::value rest = json::parse(R"([{"index":0,"function":{"arguments":"1}"}}])");
  core::Delta t;
  t.tool_calls = &head;
  r->delta(t, out);
  t.tool_calls = &piece;
  r->delta(t, out);
  t.tool_calls = &rest;
  r->delta(t, out);
  core::Completion c;
  c.finish_reason = "tool_calls";
  c.usage.prompt_tokens = 7;
  c.usage.completion_tokens = 2;
  r->end(c, TriageInfo{}, out);

  auto ev = events(out);
  std::vector<std::string> names;
  for (const auto& e : ev) names.push_back(e.first);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "message_start", "content_block_start", "content_block_delta",
                       "content_block_delta", "content_block_stop", "content_block_start",
                       "content_block_delta", "content_block_delta", "content_block_stop",
                       "message_delta", "message_stop"}));
  EXPECT_EQ(ev[0].second.at("message").at("id"), "msg_00ab");
  EXPECT_EQ(ev[1].second.at("content_block"), json::parse(R"({"type":"text","text":""})"));
  EXPECT_EQ(ev[2].second.at("delta"), json::parse(R"({"type":"text_delta","text":"hel"})"));
  EXPECT_EQ(ev[5].second.at("index"), 1);
  EXPECT_EQ(ev[5].second.at("content_block"),
            json::parse(R"({"type":"tool_use","id":"call_1","name":"f","input":{}})"));
  EXPECT_EQ(ev[6].second.at("delta"),
            json::parse(R"({"type":"input_json_delta","partial_json":"{\"a\":"})"));
  EXPECT_EQ(ev[9].second.at("delta").at("stop_reason"), "tool_use");
  EXPECT_EQ(ev[9].second.at("usage").at("input_tokens"), 7);
  EXPECT_EQ(ev[9].second.at("usage").at("output_tokens"), 2);
}

TEST(MessagesErrors, AnthropicShapeAndStatus) {
  struct Row {
    ErrorCode code;
    int status;
    const char* type;
  };
  const Row rows[] = {{ErrorCode::kInvalidRequest, 400, "invalid_request_error"},
                      {ErrorCode::kUnauthorized, 401, "authentication_error"},
                      {ErrorCode::kForbidden, 403, "permission_error"},
                      {ErrorCode::kNotFound, 404, "not_found_error"},
                      {ErrorCode::kPayloadTooLarge, 413, "request_too_large"},
                      {ErrorCode::kRateLimited, 429, "rate_limit_error"},
                      {ErrorCode::kInternal, 500, "api_error"},
                      {ErrorCode::kUpstreamError, 502, "api_error"},
                      {ErrorCode::kUnavailable, 503, "overloaded_error"},
                      {ErrorCode::kUpstreamTimeout, 504, "timeout_error"}};
  for (const Row& row : rows) {
    HttpError h = error_response(make_error(row.code, "what to fix"));
    EXPECT_EQ(h.status, row.status);
    EXPECT_EQ(json::parse(h.body),
              json::parse(std::string(R"({"type":"error","error":{"type":")") + row.type +
                          R"(","message":"what to fix"}})"));
  }
  auto r = make_stream_renderer();
  std::string out;
  r->error(make_error(ErrorCode::kUpstreamError, "boom"), out);
  EXPECT_EQ(out, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                 "\"message\":\"boom\"}}\n\n");
}

}  // namespace
}  // namespace triage::api::messages

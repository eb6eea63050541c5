// The OpenAI Responses dialect: request translation to the chat shape, the Response object,
// the stream event sequence and the refusals.
#include "api/responses.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

namespace triage::api::responses {
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

TEST(ResponsesRequest, StringInputInstructionsAndSampling) {
  core::ChatRequest req = parse_ok(R"({"model":"support","input":"hello there",
      "instructions":"be brief","max_output_tokens":40,"temperature":0.5,"top_p":0.9,
      "metadata":{"category":"billing","team":"a"},"user":"u1","stream":true,"store":false})");
  EXPECT_EQ(req.model, "support");
  EXPECT_EQ(req.max_tokens, 40);
  EXPECT_TRUE(req.stream);
  EXPECT_TRUE(req.include_usage);  // response.completed carries usage
  EXPECT_EQ(req.meta.category, "billing");
  EXPECT_EQ(req.meta.user, "u1");
  EXPECT_EQ(req.last_user_text(), "hello there");
  const json::value expected = json::parse(R"({"model":"support",
      "messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there"}],
      "max_tokens":40,"temperature":0.5,"top_p":0.9,"stream":true,"user":"u1"})");
  EXPECT_EQ(json::value(req.body), expected) << json::serialize(req.body);
  // What the Response object repeats, never sent upstream.
  EXPECT_EQ(req.echo.at("instructions"), "be brief");
  EXPECT_EQ(req.echo.at("metadata").at("team"), "a");
  EXPECT_FALSE(req.body.contains("metadata"));
}

TEST(ResponsesRequest, ItemsWithImagesToolCallsAndOutputs) {
  core::ChatRequest req = parse_ok(R"({"model":"m","input":[
      {"role":"developer","content":"rules"},
      {"type":"message","role":"user","content":[{"type":"input_text","text":"look"},
        {"type":"input_image","image_url":"https://x/y.png","detail":"low"}]},
      {"type":"message","role":"assistant","content":[{"type":"output_text","text":"checking"}]},
      {"type":"function_call","call_id":"call_1","name":"lookup","arguments":"{\"q\":1}"},
      {"type":"function_call","call_id":"call_2","name":"lookup","arguments":"{}"},
      {"type":"function_call_output","call_id":"call_1","output":"one"},
      {"type":"function_call_output","call_id":"call_2",
       "output":[{"type":"input_text","text":"two"}]},
      {"type":"reasoning","id":"rs_1","summary":[]}],
    "tools":[{"type":"function","name":"lookup","description":"d",
              "parameters":{"type":"object"},"strict":true}],
    "tool_choice":{"type":"function","name":"lookup"},"parallel_tool_calls":false})");
  const json::value expected = json::parse(R"([
      {"role":"developer","content":"rules"},
      {"role":"user","content":[{"type":"text","text":"look"},
        {"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]},
      {"role":"assistant","content":"checking","tool_calls":[
        {"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":1}"}},
        {"id":"call_2","type":"function","function":{"name":"lookup","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"one"},
      {"role":"tool","tool_call_id":"call_2","content":"two"}])");
  EXPECT_EQ(req.body.at("messages"), expected) << json::serialize(req.body.at("messages"));
  EXPECT_EQ(req.body.at("tools"), json::parse(R"([{"type":"function","function":{"name":"lookup",
      "description":"d","parameters":{"type":"object"},"strict":true}}])"));
  EXPECT_EQ(req.body.at("tool_choice"),
            json::parse(R"({"type":"function","function":{"name":"lookup"}})"));
  EXPECT_EQ(req.body.at("parallel_tool_calls"), false);
  ASSERT_EQ(req.messages.size(), 5u);
  EXPECT_EQ(req.messages[1].text, "look");
}

TEST(ResponsesRequest, FunctionCallWithoutTextStartsAnAssistantTurn) {
  core::ChatRequest req = parse_ok(R"({"model":"m","input":[{"role":"user","content":"q"},
      {"type":"function_call","call_id":"c","name":"f","arguments":"{}"},
      {"type":"function_call_output","call_id":"c","output":"r"}]})");
  const json::array& m = req.body.at("messages").as_array();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1].at("role"), "assistant");
  EXPECT_TRUE(m[1].at("content").is_null());
  EXPECT_EQ(m[1].at("tool_calls").as_array().size(), 1u);
}

TEST(ResponsesRequest, TextFormatBecomesResponseFormat) {
  core::ChatRequest schema = parse_ok(R"({"model":"m","input":"x","text":{"format":{
      "type":"json_schema","name":"out","schema":{"type":"object"},"strict":true}}})");
  EXPECT_EQ(schema.body.at("response_format"), json::parse(R"({"type":"json_schema",
      "json_schema":{"name":"out","schema":{"type":"object"},"strict":true}})"));
  core::ChatRequest object = parse_ok(R"({"model":"m","input":"x",
      "text":{"format":{"type":"json_object"}}})");
  EXPECT_EQ(object.body.at("response_format"), json::parse(R"({"type":"json_object"})"));
  core::ChatRequest text = parse_ok(R"({"model":"m","input":"x","text":{"format":{"type":"text"}}})");
  EXPECT_FALSE(text.body.contains("response_format"));
}

TEST(ResponsesRequest, BadBodiesNameTheField) {
  struct Case {
    const char* body;
    const char* param;
    const char* says;
  };
  const Case cases[] = {
      {R"({"input":"x"})", "model", "field required"},
      {R"({"model":"m"})", "input", "field required"},
      {R"({"model":"m","input":5})", "input", "a string or an array"},
      {R"({"model":"m","input":[]})", "input", "at least one"},
      {R"({"model":"m","input":[{"role":"tool","content":"x"}]})", "input[0].role", "'tool'"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_file"}]}]})",
       "input[0].content[0].type", "input_file"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]})",
       "input[0].content[0].file_id", "stateless"},
      {R"({"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]})",
       "input[0].call_id", "field required"},
      {R"({"model":"m","input":[{"type":"web_search_call","id":"w"}]})", "input[0].type",
       "web_search_call"},
      {R"({"model":"m","input":[{"type":"item_reference","id":"i"}]})", "input[0].type",
       "stateless"},
      {R"({"model":"m","input":"x","tools":[{"type":"web_search"}]})", "tools[0].type",
       "built-in tool 'web_search'"},
      {R"({"model":"m","input":"x","tools":[{"type":"function"}]})", "tools[0].name",
       "field required"},
      {R"({"model":"m","input":"x","tool_choice":{"type":"file_search"}})", "tool_choice.type",
       "built-in"},
      {R"({"model":"m","input":"x","max_output_tokens":0})", "max_output_tokens", "at least 1"},
      {R"({"model":"m","input":"x","max_output_tokens":"9"})", "max_output_tokens",
       "expected an integer, got a string"},
      {R"({"model":"m","input":"x","temperature":3})", "temperature", "between 0 and 2"},
      {R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"n"}}})",
       "text.format.schema", "field required"},
      {R"({"model":"m","input":"x","metadata":{"k":1}})", "metadata.k", "a string"},
      {R"({"model":"m","input":"x","previous_response_id":"resp_1"})", "previous_response_id",
       "stateless"},
      {R"({"model":"m","input":"x","conversation":"conv_1"})", "conversation", "stateless"},
      {R"({"model":"m","input":"x","store":true})", "store", "stateless"},
      {R"({"model":"m","input":"x","background":true})", "background", "stateless"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    Error e = parse_fail(c.body);
    EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(e.param, c.param);
    EXPECT_NE(e.message.find(c.says), std::string::npos) << e.message;
  }
  EXPECT_NE(parse_fail("{not json").message.find("not valid JSON"), std::string::npos);
}

ResponseInfo info() {
  ResponseInfo i;
  i.created = 1700000000;
  i.model = "small";
  i.triage.request_id = "req_abc";
  i.triage.model = "small";
  return i;
}

TEST(ResponsesRender, TextAnswerIsAMessageItemWithUsage) {
  core::ChatRequest req = parse_ok(R"({"model":"m","input":"x","instructions":"be",
      "metadata":{"a":"b"}})");
  core::Completion c;
  c.content = "hello";
  c.usage = {7, 3, 2, false};
  json::value v = json::parse(serialize_response(req, info(), c));
  EXPECT_EQ(v.at("id"), "resp_abc");
  EXPECT_EQ(v.at("object"), "response");
  EXPECT_EQ(v.at("status"), "completed");
  EXPECT_EQ(v.at("model"), "small");
  EXPECT_EQ(v.at("created_at"), 1700000000);
  EXPECT_TRUE(v.at("incomplete_details").is_null());
  EXPECT_EQ(v.at("instructions"), "be");
  EXPECT_EQ(v.at("metadata"), json::parse(R"({"a":"b"})"));
  EXPECT_EQ(v.at("store"), false);
  EXPECT_EQ(v.at("output"), json::parse(R"([{"id":"msg_abc","type":"message","status":"completed",
      "role":"assistant","content":[{"type":"output_text","annotations":[],"logprobs":[],
      "text":"hello"}]}])"));
  EXPECT_EQ(v.at("usage"), json::parse(R"({"input_tokens":7,"input_tokens_details":
      {"cached_tokens":2},"output_tokens":3,"output_tokens_details":{"reasoning_tokens":0},
      "total_tokens":10})"));
  EXPECT_EQ(v.at("triage").at("request_id"), "req_abc");
}

TEST(ResponsesRender, ToolCallsAreFunctionCallItemsAndLengthIsIncomplete) {
  core::ChatRequest req = parse_ok(R"({"model":"m","input":"x"})");
  core::Completion c;
  c.finish_reason = "tool_calls";
  c.tool_calls = json::parse(R"([{"id":"call_9","type":"function",
      "function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}])");
  json::value v = json::parse(serialize_response(req, info(), c));
  EXPECT_EQ(v.at("output"), json::parse(R"([{"id":"fc_abc_0","type":"function_call",
      "status":"completed","call_id":"call_9","name":"lookup","arguments":"{\"q\":\"x\"}"}])"));

  core::Completion cut;
  cut.content = "partial";
  cut.finish_reason = "length";
  json::value w = json::parse(serialize_response(req, info(), cut));
  EXPECT_EQ(w.at("status"), "incomplete");
  EXPECT_EQ(w.at("incomplete_details"), json::parse(R"({"reason":"max_output_tokens"})"));
  EXPECT_EQ(w.at("output").at(0).at("status"), "incomplete");
}

struct Event {
  std::string name;
  json::value data;
};

std::vector<Event> events(const std::string& sse) {
  std::vector<Event> out;
  std::size_t pos = 0;
  while (pos < sse.size()) {
    const std::size_t end = sse.find("\n\n", pos);
    const std::string block = sse.substr(pos, end - pos);
    pos = end + 2;
    const std::size_t nl = block.find('\n');
    EXPECT_EQ(block.substr(0, 7), "event: ");
    EXPECT_EQ(block.substr(nl + 1, 6), "data: ");
    out.push_back({block.substr(7, nl - 7), json::parse(block.substr(nl + 7))});
  }
  return out;
}

std::vector<std::string> names(const std::vector<Event>& es) {
  std::vector<std::string> n;
  for (const Event& e : es) n.push_back(e.name);
  return n;
}

TEST(ResponsesStream, TextEventSequenceWithSequenceNumbers) {
  core::ChatRequest req = parse_ok(R"({"model":"m","input":"x","stream":true})");
  auto r = make_stream_renderer(req);
  std::string out;
  r->begin("req_abc", 1700000000, "small", out);
  core::Delta d;
  d.content = "hel";
  r->delta(d, out);
  d.content = "lo";
  r->delta(d, out);
  core::Completion c;
  c.content = "hello";
  c.usage = {4, 2, 0, false};
  r->end(c, TriageInfo{}, out);
  const std::vector<Event> es = events(out);
  EXPECT_EQ(names(es), (std::vector<std::string>{
                           "response.created", "response.in_progress",
                           "response.output_item.added", "response.content_part.added",
                           "response.output_text.delta", "response.output_text.delta",
                           "response.output_text.done", "response.content_part.done",
                           "response.output_item.done", "response.completed"}));
  for (std::size_t i = 0; i < es.size(); ++i) {
    EXPECT_EQ(es[i].data.at("type"), es[i].name.c_str());
    EXPECT_EQ(es[i].data.at("sequence_number"), static_cast<int64_t>(i));
  }
  EXPECT_EQ(es[0].data.at("response").at("status"), "in_progress");
  EXPECT_EQ(es[0].data.at("response").at("id"), "resp_abc");
  EXPECT_EQ(es[4].data.at("item_id"), "msg_abc");
  EXPECT_EQ(es[4].data.at("delta"), "hel");
  EXPECT_EQ(es[6].data.at("text"), "hello");
  const json::value& done = es.back().data.at("response");
  EXPECT_EQ(done.at("status"), "completed");
  EXPECT_EQ(done.at("output").at(0).at("content").at(0).at("text"), "hello");
  EXPECT_EQ(done.at("usage").at("total_tokens"), 6);
}

TEST(ResponsesStream, FunctionCallArgumentDeltas) {
  core::ChatRequest req = parse_ok(R"({"model":"m","input":"x","stream":true})");
  auto r = make_stream_renderer(req);
  std::string out;
  r->begin("req_abc", 1, "small", out);
  const json::value head = json::parse(
      R"([{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}])");
  const json::value part1 = json::parse(R"([{"index":0,"function":{"arguments":"{\"a\":"}}])");
  const json::value part2 = json::parse(R"([{"index":0,"function":{"arguments":"1}"}}])");
  for (const json::value* tc : {&head, &part1, &part2}) {
    core::Delta d;
    d.tool_calls = tc;
    r->delta(d, out);
  }
  core::Completion c;
  c.finish_reason = "tool_calls";
  r->end(c, TriageInfo{}, out);
  const std::vector<Event> es = events(out);
  EXPECT_EQ(names(es), (std::vector<std::string>{
                           "response.created", "response.in_progress",
                           "response.output_item.added",
                           "response.function_call_arguments.delta",
                           "response.function_call_arguments.delta",
                           "response.function_call_arguments.done",
                           "response.output_item.done", "response.completed"}));
  EXPECT_EQ(es[2].data.at("item").at("type"), "function_call");
  EXPECT_EQ(es[2].data.at("item").at("call_id"), "call_1");
  EXPECT_EQ(es[5].data.at("arguments"), "{\"a\":1}");
  EXPECT_EQ(es.back().data.at("response").at("output").at(0).at("arguments"), "{\"a\":1}");
}

TEST(ResponsesStream, FailureAfterStartIsFailedThenError) {
  core::ChatRequest req = parse_ok(R"({"model":"m","input":"x","stream":true})");
  auto r = make_stream_renderer(req);
  std::string out;
  r->begin("req_abc", 1, "small", out);
  core::Delta d;
  d.content = "par";
  r->delta(d, out);
  r->error(make_error(ErrorCode::kUpstreamError, "the upstream failed"), out);
  const std::vector<Event> es = events(out);
  ASSERT_GE(es.size(), 2u);
  EXPECT_EQ(es[es.size() - 2].name, "response.failed");
  EXPECT_EQ(es[es.size() - 2].data.at("response").at("status"), "failed");
  EXPECT_EQ(es[es.size() - 2].data.at("response").at("error").at("message"),
            "the upstream failed");
  EXPECT_EQ(es.back().name, "error");
  EXPECT_EQ(es.back().data.at("message"), "the upstream failed");
  EXPECT_EQ(es.back().data.at("error").at("type"), "upstream_error");  // what SDKs raise from
}

}  // namespace
}  // namespace triage::api::responses

#include "api/chat_response.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace triage::api {
namespace {

namespace json = boost::json;

ResponseInfo sample_info() {
  ResponseInfo info;
  info.id = "chatcmpl-abc123";
  info.created = 1700000000;
  info.model = "gpt-4o-mini";
  info.triage.request_id = "req_abc123";
  info.triage.route = "support";
  info.triage.model = "gpt-4o-mini";
  info.triage.tier = "small";
  info.triage.cost_usd = 0.000123;
  info.triage.tokens_estimated = true;
  info.triage.routing_ms = 0.012;
  info.triage.queue_ms = 0.0;
  info.triage.upstream_ttfb_ms = 120.5;
  info.triage.upstream_ms = 480.25;
  info.triage.overhead_ms = 0.031;
  info.triage.total_ms = 480.293;
  return info;
}

core::Completion sample_completion() {
  core::Completion c;
  c.content = "Hello there";
  c.finish_reason = "stop";
  c.usage.prompt_tokens = 12;
  c.usage.completion_tokens = 3;
  c.usage.cached_prompt_tokens = 2;
  c.model = "gpt-4o-mini";
  return c;
}

// Splits one SSE event into its JSON payload, checking the framing.
json::object event_json(const std::string& event) {
  EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
  EXPECT_GE(event.size(), 8u);
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
  // Exactly one event: no blank line before the end.
  EXPECT_EQ(event.find("\n\n"), event.size() - 2) << event;
  return json::parse(event.substr(6, event.size() - 8)).as_object();
}

TEST(SerializeCompletion, OpenAIShape) {
  std::string s = serialize_completion(sample_info(), sample_completion());
  json::object o = json::parse(s).as_object();
  EXPECT_EQ(o.at("id").as_string(), "chatcmpl-abc123");
  EXPECT_EQ(o.at("object").as_string(), "chat.completion");
  EXPECT_EQ(o.at("created").as_int64(), 1700000000);
  EXPECT_EQ(o.at("model").as_string(), "gpt-4o-mini");
  EXPECT_TRUE(o.at("system_fingerprint").is_null());
  const json::array& choices = o.at("choices").as_array();
  ASSERT_EQ(choices.size(), 1u);
  const json::object& ch = choices[0].as_object();
  EXPECT_EQ(ch.at("index").as_int64(), 0);
  EXPECT_TRUE(ch.at("logprobs").is_null());
  EXPECT_EQ(ch.at("finish_reason").as_string(), "stop");
  const json::object& msg = ch.at("message").as_object();
  EXPECT_EQ(msg.at("role").as_string(), "assistant");
  EXPECT_EQ(msg.at("content").as_string(), "Hello there");
  EXPECT_TRUE(msg.at("refusal").is_null());
  EXPECT_FALSE(msg.contains("tool_calls"));
  const json::object& usage = o.at("usage").as_object();
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), 12);
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(usage.at("total_tokens").as_int64(), 15);
  EXPECT_EQ(usage.at("prompt_tokens_details").at("cached_tokens").as_int64(), 2);

  const json::object& t = o.at("triage").as_object();
  EXPECT_EQ(t.at("request_id").as_string(), "req_abc123");
  EXPECT_EQ(t.at("route").as_string(), "support");
  EXPECT_EQ(t.at("model").as_string(), "gpt-4o-mini");
  EXPECT_EQ(t.at("tier").as_string(), "small");
  EXPECT_DOUBLE_EQ(t.at("cost_usd").to_number<double>(), 0.000123);
  EXPECT_TRUE(t.at("tokens_estimated").as_bool());
  EXPECT_FALSE(t.at("synthesized").as_bool());
  EXPECT_FALSE(t.contains("label"));
  const json::object& lat = t.at("latency_ms").as_object();
  EXPECT_DOUBLE_EQ(lat.at("routing").to_number<double>(), 0.012);
  EXPECT_DOUBLE_EQ(lat.at("queue").to_number<double>(), 0.0);
  EXPECT_DOUBLE_EQ(lat.at("upstream_ttfb").to_number<double>(), 120.5);
  EXPECT_DOUBLE_EQ(lat.at("upstream").to_number<double>(), 480.25);
  EXPECT_DOUBLE_EQ(lat.at("overhead").to_number<double>(), 0.031);
  EXPECT_DOUBLE_EQ(lat.at("total").to_number<double>(), 480.293);
  // Numbers are written in plain decimal form, not Boost.JSON's "1.2E2".
  EXPECT_NE(s.find(R"("upstream_ttfb":120.5)"), std::string::npos) << s;
}

TEST(SerializeCompletion, ToolCallsWithNullContent) {
  core::Completion c = sample_completion();
  c.content.clear();
  c.finish_reason = "tool_calls";
  c.tool_calls = json::parse(
      R"([{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}])");
  json::object o = json::parse(serialize_completion(sample_info(), c)).as_object();
  const json::object& ch = o.at("choices").as_array()[0].as_object();
  EXPECT_EQ(ch.at("finish_reason").as_string(), "tool_calls");
  const json::object& msg = ch.at("message").as_object();
  EXPECT_TRUE(msg.at("content").is_null());
  EXPECT_EQ(msg.at("tool_calls"), c.tool_calls);
  EXPECT_EQ(msg.at("tool_calls").as_array()[0].at("function").at("arguments").as_string(),
            "{\"city\":\"Paris\"}");
}

TEST(SerializeCompletion, ToolCallsWithTextKeepContent) {
  core::Completion c = sample_completion();
  c.tool_calls =
      json::parse(R"([{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}])");
  json::object o = json::parse(serialize_completion(sample_info(), c)).as_object();
  const json::object& msg = o.at("choices").as_array()[0].at("message").as_object();
  EXPECT_EQ(msg.at("content").as_string(), "Hello there");
  EXPECT_TRUE(msg.at("tool_calls").is_array());
}

TEST(SerializeCompletion, EscapesQuotesNewlinesControlAndUnicode) {
  const std::string tricky =
      "He said \"hi\"\\ \n\ttab\r\b\f \x01\x1f caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x80\xA8 </script>";
  core::Completion c = sample_completion();
  c.content = tricky;
  ResponseInfo info = sample_info();
  info.model = "we\"ird\nmodel";
  std::string s = serialize_completion(info, c);
  json::object o = json::parse(s).as_object();  // throws if the JSON were invalid
  EXPECT_EQ(o.at("choices").as_array()[0].at("message").at("content").as_string(), tricky);
  EXPECT_EQ(o.at("model").as_string(), "we\"ird\nmodel");
  EXPECT_NE(s.find(R"(\u0001\u001f)"), std::string::npos);
  EXPECT_NE(s.find(R"(\"hi\"\\ \n\ttab\r\b\f)"), std::string::npos);
}

TEST(SerializeCompletion, InvalidUtf8BecomesReplacementCharacter) {
  core::Completion c = sample_completion();
  c.content = "ok\xFF\xC3(\xE2\x82 end\xED\xA0\x80";  // stray, truncated, surrogate
  std::string s = serialize_completion(sample_info(), c);
  json::object o = json::parse(s).as_object();  // Boost.JSON rejects invalid UTF-8
  std::string_view got = o.at("choices").as_array()[0].at("message").at("content").as_string();
  EXPECT_EQ(got,
            "ok\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD end"
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(SerializeCompletion, LabelAndSynthesizedAndDirectCall) {
  ResponseInfo info = sample_info();
  info.triage.route.clear();
  info.triage.label = "billing";
  info.triage.confidence = 0.875;
  info.triage.synthesized = true;
  json::object o = json::parse(serialize_completion(info, sample_completion())).as_object();
  const json::object& t = o.at("triage").as_object();
  EXPECT_TRUE(t.at("route").is_null());
  EXPECT_EQ(t.at("label").as_string(), "billing");
  EXPECT_DOUBLE_EQ(t.at("confidence").to_number<double>(), 0.875);
  EXPECT_TRUE(t.at("synthesized").as_bool());
}

TEST(ResponseInfo, FromTrace) {
  core::Trace tr;
  tr.request_id = "req_0123456789abcdef01234567";
  tr.requested_model = "support";
  tr.route = "support";
  tr.model = "small-model";
  tr.tier = "small";
  tr.cost_usd = 0.5;
  tr.routing_us = 12;
  tr.queue_us = 1500;
  tr.upstream_ttfb_us = 2000;
  tr.upstream_us = 9000;
  tr.overhead_us = 40;
  tr.total_us = 10552;
  ResponseInfo info = response_info(tr, 42);
  EXPECT_EQ(info.id, "chatcmpl-0123456789abcdef01234567");
  EXPECT_EQ(info.created, 42);
  EXPECT_EQ(info.model, "small-model");
  EXPECT_EQ(info.triage.route, "support");
  EXPECT_DOUBLE_EQ(info.triage.routing_ms, 0.012);
  EXPECT_DOUBLE_EQ(info.triage.queue_ms, 1.5);
  EXPECT_DOUBLE_EQ(info.triage.total_ms, 10.552);
  tr.model.clear();
  EXPECT_EQ(response_info(tr, 42).model, "support");
  EXPECT_EQ(response_id("abc"), "chatcmpl-abc");
}

TEST(ChunkSerializer, SequenceWithoutUsage) {
  ChunkSerializer cs("chatcmpl-x", 1700000001, "m", /*include_usage=*/false);

  json::object role = event_json(cs.role_chunk());
  EXPECT_EQ(role.at("id").as_string(), "chatcmpl-x");
  EXPECT_EQ(role.at("object").as_string(), "chat.completion.chunk");
  EXPECT_EQ(role.at("created").as_int64(), 1700000001);
  EXPECT_EQ(role.at("model").as_string(), "m");
  EXPECT_TRUE(role.at("system_fingerprint").is_null());
  EXPECT_FALSE(role.contains("usage"));
  const json::object& c0 = role.at("choices").as_array().at(0).as_object();
  EXPECT_EQ(c0.at("index").as_int64(), 0);
  EXPECT_EQ(c0.at("delta").at("role").as_string(), "assistant");
  EXPECT_EQ(c0.at("delta").at("content").as_string(), "");
  EXPECT_TRUE(c0.at("logprobs").is_null());
  EXPECT_TRUE(c0.at("finish_reason").is_null());

  json::object content = event_json(cs.content_chunk("Hel\"lo\n"));
  const json::object& d = content.at("choices").as_array().at(0).at("delta").as_object();
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.at("content").as_string(), "Hel\"lo\n");
  EXPECT_TRUE(content.at("choices").as_array().at(0).at("finish_reason").is_null());

  json::object fin = event_json(cs.finish_chunk("length"));
  const json::object& fc = fin.at("choices").as_array().at(0).as_object();
  EXPECT_TRUE(fc.at("delta").as_object().empty());
  EXPECT_EQ(fc.at("finish_reason").as_string(), "length");
  EXPECT_FALSE(fin.contains("usage"));
  EXPECT_FALSE(fin.contains("triage"));

  EXPECT_EQ(kStreamDone, "data: [DONE]\n\n");
}

TEST(ChunkSerializer, FinishChunkCarriesTriageWhenGiven) {
  ResponseInfo info = sample_info();
  ChunkSerializer cs(info, /*include_usage=*/false);
  json::object fin = event_json(cs.finish_chunk("stop", &info.triage));
  EXPECT_EQ(fin.at("triage").at("route").as_string(), "support");
  EXPECT_EQ(fin.at("id").as_string(), "chatcmpl-abc123");
}

TEST(ChunkSerializer, SequenceWithUsage) {
  ResponseInfo info = sample_info();
  ChunkSerializer cs(info, /*include_usage=*/true);
  for (const std::string& ev : {cs.role_chunk(), cs.content_chunk("a"), cs.finish_chunk("stop")}) {
    json::object o = event_json(ev);
    ASSERT_TRUE(o.contains("usage")) << ev;
    EXPECT_TRUE(o.at("usage").is_null());
    EXPECT_EQ(o.at("choices").as_array().size(), 1u);
  }
  core::Usage u;
  u.prompt_tokens = 7;
  u.completion_tokens = 5;
  json::object last = event_json(cs.usage_chunk(u, &info.triage));
  EXPECT_EQ(last.at("object").as_string(), "chat.completion.chunk");
  EXPECT_TRUE(last.at("choices").as_array().empty());
  EXPECT_EQ(last.at("usage").at("prompt_tokens").as_int64(), 7);
  EXPECT_EQ(last.at("usage").at("completion_tokens").as_int64(), 5);
  EXPECT_EQ(last.at("usage").at("total_tokens").as_int64(), 12);
  EXPECT_EQ(last.at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64(), 0);
  EXPECT_DOUBLE_EQ(last.at("triage").at("cost_usd").to_number<double>(), 0.000123);

  json::object bare = event_json(cs.usage_chunk(u));
  EXPECT_FALSE(bare.contains("triage"));
}

TEST(ChunkSerializer, ToolCallDeltas) {
  ChunkSerializer cs("id", 1, "m", false);
  json::value tc = json::parse(
      R"([{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}])");
  core::Delta d;
  d.tool_calls = &tc;
  json::object o = event_json(cs.delta_chunk(d));
  const json::object& delta = o.at("choices").as_array().at(0).at("delta").as_object();
  EXPECT_FALSE(delta.contains("content"));
  EXPECT_EQ(delta.at("tool_calls"), tc);

  d.role = "assistant";
  d.content = "thinking";
  json::object both = event_json(cs.delta_chunk(d));
  const json::object& bd = both.at("choices").as_array().at(0).at("delta").as_object();
  EXPECT_EQ(bd.at("role").as_string(), "assistant");
  EXPECT_EQ(bd.at("content").as_string(), "thinking");
  EXPECT_EQ(bd.at("tool_calls"), tc);
}

TEST(ChunkSerializer, EmptyContentDeltaStillHasContent) {
  ChunkSerializer cs("id", 1, "m", false);
  json::object o = event_json(cs.delta_chunk(core::Delta{}));
  EXPECT_EQ(o.at("choices").as_array().at(0).at("delta").at("content").as_string(), "");
}

TEST(ChunkSerializer, ContentWithBlankLinesStaysOneEvent) {
  // SSE framing breaks on a raw "\n\n" inside data; JSON escaping must prevent it.
  ChunkSerializer cs("id", 1, "m", false);
  std::string ev = cs.content_chunk("para 1\n\npara 2\r\n\r\n");
  json::object o = event_json(ev);
  EXPECT_EQ(o.at("choices").as_array().at(0).at("delta").at("content").as_string(),
            "para 1\n\npara 2\r\n\r\n");
}

}  // namespace
}  // namespace triage::api

#include "api/chat_request.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace triage::api {
namespace {

namespace json = boost::json;

struct BadCase {
  const char* name;
  std::string body;
  std::string param;    // expected Error::param ("" = none)
  std::string message;  // substring of the public message
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadRequestTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRequestTest, RejectedWithParamAndMessage) {
  const BadCase& c = GetParam();
  auto r = parse_chat_request(c.body);
  ASSERT_FALSE(r.ok()) << c.body;
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(r.error().param, c.param);
  EXPECT_NE(r.error().message.find(c.message), std::string::npos)
      << "message: " << r.error().message;
  EXPECT_TRUE(r.error().internal.empty());
}

#define MSGS R"("messages":[{"role":"user","content":"hi"}])"

INSTANTIATE_TEST_SUITE_P(
    Table, BadRequestTest,
    ::testing::Values(
        BadCase{"empty_body", "", "",
                "We could not parse the JSON body of your request: the body is empty"},
        BadCase{"truncated", "{\"model\":\"m\",\n \"messages\": [", "",
                "We could not parse the JSON body of your request: "},
        BadCase{"syntax_line_col", "{\"model\":\"m\",\n  \"messages\" [] }", "",
                "line 2, column 14"},
        BadCase{"trailing_garbage", R"({"model":"m",)" MSGS "} x", "", "offset"},
        BadCase{"not_object", "[1,2]", "", "expected a JSON object, but got an array"},
        BadCase{"string_body", "\"hello\"", "", "expected a JSON object, but got a string"},
        BadCase{"model_missing", "{" MSGS "}", "model", "Missing required parameter: 'model'"},
        BadCase{"model_null", R"({"model":null,)" MSGS "}", "model", "Missing required parameter"},
        BadCase{"model_number", R"({"model":4,)" MSGS "}", "model",
                "Invalid type for 'model': expected a string, but got an integer instead."},
        BadCase{"model_empty", R"({"model":"",)" MSGS "}", "model", "empty string"},
        BadCase{"messages_missing", R"({"model":"m"})", "messages",
                "Missing required parameter: 'messages'"},
        BadCase{"messages_object", R"({"model":"m","messages":{}})", "messages",
                "expected an array, but got an object"},
        BadCase{"messages_empty", R"({"model":"m","messages":[]})", "messages", "empty array"},
        BadCase{"message_not_object", R"({"model":"m","messages":["hi"]})", "messages[0]",
                "expected an object, but got a string"},
        BadCase{"role_missing", R"({"model":"m","messages":[{"content":"hi"}]})",
                "messages[0].role", "Missing required parameter: 'messages[0].role'"},
        BadCase{"role_not_string", R"({"model":"m","messages":[{"role":1,"content":"hi"}]})",
                "messages[0].role", "expected a string"},
        BadCase{
            "role_unknown",
            R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"robot","content":"hi"}]})",
            "messages[1].role", "Invalid value: 'robot'. Supported values are"},
        BadCase{"content_missing_user", R"({"model":"m","messages":[{"role":"user"}]})",
                "messages[0].content", "Missing required parameter: 'messages[0].content'"},
        BadCase{"content_null_user", R"({"model":"m","messages":[{"role":"user","content":null}]})",
                "messages[0].content", "but got null instead"},
        BadCase{
            "content_null_assistant_no_tools",
            R"({"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":null},{"role":"user","content":"x"}]})",
            "messages[1].content", "but got null"},
        BadCase{"content_number", R"({"model":"m","messages":[{"role":"user","content":5}]})",
                "messages[0].content", "expected one of a string or an array of objects"},
        BadCase{"content_empty_array", R"({"model":"m","messages":[{"role":"user","content":[]}]})",
                "messages[0].content", "empty array"},
        BadCase{
            "part_not_object",
            R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},"b"]}]})",
            "messages[0].content[1]", "expected an object"},
        BadCase{"part_no_type",
                R"({"model":"m","messages":[{"role":"user","content":[{"text":"a"}]}]})",
                "messages[0].content[0].type", "Missing required parameter"},
        BadCase{"part_text_missing",
                R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})",
                "messages[0].content[0].text", "Missing required parameter"},
        BadCase{
            "part_text_number",
            R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":3}]}]})",
            "messages[0].content[0].text", "expected a string, but got an integer"},
        BadCase{"tool_without_id", R"({"model":"m","messages":[{"role":"tool","content":"42"}]})",
                "messages[0].tool_call_id", "Missing required parameter"},
        BadCase{"tool_calls_not_array",
                R"({"model":"m","messages":[{"role":"assistant","content":"a","tool_calls":{}}]})",
                "messages[0].tool_calls", "expected an array"},
        BadCase{"stream_string", R"({"model":"m",)" MSGS R"(,"stream":"yes"})", "stream",
                "Invalid type for 'stream': expected a boolean, but got a string instead."},
        BadCase{"stream_options_without_stream",
                R"({"model":"m",)" MSGS R"(,"stream_options":{"include_usage":true}})",
                "stream_options", "only allowed when 'stream' is enabled"},
        BadCase{"stream_options_not_object",
                R"({"model":"m",)" MSGS R"(,"stream":true,"stream_options":true})",
                "stream_options", "expected an object, but got a boolean"},
        BadCase{"include_usage_not_bool",
                R"({"model":"m",)" MSGS R"(,"stream":true,"stream_options":{"include_usage":1}})",
                "stream_options.include_usage", "expected a boolean"},
        BadCase{"max_tokens_zero", R"({"model":"m",)" MSGS R"(,"max_tokens":0})", "max_tokens",
                "Expected a value >= 1, but got 0 instead"},
        BadCase{"max_tokens_negative", R"({"model":"m",)" MSGS R"(,"max_tokens":-5})", "max_tokens",
                "below minimum"},
        // Found by fuzzing (fuzz/regressions/chat_request/): a number beyond the double range
        // anywhere in the body was kept as infinity and forwarded upstream as `Infinity`.
        BadCase{"infinite_unknown_field", R"({"model":"m",)" MSGS R"(,"seed_x":{"a":[1,41e999]}})",
                "seed_x.a[1]", "too large to represent"},
        BadCase{"infinite_in_message", R"({"model":"m","messages":[{"role":"user","content":"x",)"
                R"("extra":-1e400}]})", "messages[0].extra", "too large to represent"},
        BadCase{"max_tokens_decimal", R"({"model":"m",)" MSGS R"(,"max_tokens":10.5})",
                "max_tokens", "expected an integer, but got a decimal"},
        BadCase{"max_tokens_string", R"({"model":"m",)" MSGS R"(,"max_tokens":"10"})", "max_tokens",
                "expected an integer, but got a string"},
        BadCase{"max_tokens_huge", R"({"model":"m",)" MSGS R"(,"max_tokens":18446744073709551615})",
                "max_tokens", "above maximum"},
        BadCase{"max_completion_tokens_zero",
                R"({"model":"m",)" MSGS R"(,"max_completion_tokens":0})", "max_completion_tokens",
                "below minimum"},
        BadCase{"temperature_high", R"({"model":"m",)" MSGS R"(,"temperature":3})", "temperature",
                "Expected a value <= 2, but got 3 instead"},
        BadCase{"temperature_negative", R"({"model":"m",)" MSGS R"(,"temperature":-0.5})",
                "temperature", "below minimum value"},
        BadCase{"temperature_string", R"({"model":"m",)" MSGS R"(,"temperature":"hot"})",
                "temperature", "expected a number"},
        BadCase{"top_p_high", R"({"model":"m",)" MSGS R"(,"top_p":1.5})", "top_p",
                "Expected a value <= 1, but got 1.5 instead"},
        BadCase{"n_two", R"({"model":"m",)" MSGS R"(,"n":2})", "n",
                "n > 1 is not supported by Triage yet"},
        BadCase{"n_zero", R"({"model":"m",)" MSGS R"(,"n":0})", "n", "below minimum"},
        BadCase{"n_string", R"({"model":"m",)" MSGS R"(,"n":"1"})", "n", "expected an integer"},
        BadCase{"stop_number", R"({"model":"m",)" MSGS R"(,"stop":7})", "stop",
                "expected one of a string or an array of strings"},
        BadCase{"stop_too_many", R"({"model":"m",)" MSGS R"(,"stop":["a","b","c","d","e"]})",
                "stop", "maximum length 4, but got an array with length 5"},
        BadCase{"stop_element_number", R"({"model":"m",)" MSGS R"(,"stop":["a",1]})", "stop[1]",
                "expected a string, but got an integer"},
        BadCase{"user_number", R"({"model":"m",)" MSGS R"(,"user":12})", "user",
                "expected a string"},
        BadCase{"metadata_array", R"({"model":"m",)" MSGS R"(,"metadata":[]})", "metadata",
                "expected an object"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(ParseChatRequest, MinimalStringContent) {
  auto r =
      parse_chat_request(R"({"model":"support","messages":[{"role":"user","content":"Hello"}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const core::ChatRequest& req = *r;
  EXPECT_EQ(req.model, "support");
  ASSERT_EQ(req.messages.size(), 1u);
  EXPECT_EQ(req.messages[0].role, "user");
  EXPECT_EQ(req.messages[0].text, "Hello");
  EXPECT_EQ(req.messages[0].raw.at("content").as_string(), "Hello");
  EXPECT_FALSE(req.stream);
  EXPECT_FALSE(req.include_usage);
  EXPECT_FALSE(req.max_tokens.has_value());
  EXPECT_FALSE(req.temperature.has_value());
  EXPECT_FALSE(req.top_p.has_value());
  EXPECT_TRUE(req.stop.empty());
  EXPECT_EQ(req.body.at("model").as_string(), "support");
  EXPECT_EQ(req.last_user_text(), "Hello");
}

TEST(ParseChatRequest, ContentPartsJoinTextAndKeepRaw) {
  auto r = parse_chat_request(R"({"model":"m","messages":[
    {"role":"system","content":[{"type":"text","text":"Be brief."}]},
    {"role":"user","content":[
      {"type":"text","text":"What is in"},
      {"type":"image_url","image_url":{"url":"https://x/y.png"}},
      {"type":"text","text":"this picture?"}]}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[0].text, "Be brief.");
  EXPECT_EQ(r->messages[1].text, "What is in\nthis picture?");
  const json::array& parts = r->messages[1].raw.at("content").as_array();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].at("image_url").at("url").as_string(), "https://x/y.png");
}

TEST(ParseChatRequest, ToolConversation) {
  auto r = parse_chat_request(R"({"model":"m","messages":[
    {"role":"developer","content":"You call tools."},
    {"role":"user","content":"Weather in Paris?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
      "function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"18C"},
    {"role":"assistant","tool_calls":[{"id":"call_2","type":"function",
      "function":{"name":"x","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"ok"}]}],
    "tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object"}}}],
    "tool_choice":"auto"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->messages.size(), 6u);
  EXPECT_EQ(r->messages[2].role, "assistant");
  EXPECT_EQ(r->messages[2].text, "");
  EXPECT_EQ(r->messages[2].raw.at("tool_calls").as_array()[0].at("id").as_string(), "call_1");
  EXPECT_EQ(r->messages[3].role, "tool");
  EXPECT_EQ(r->messages[3].text, "18C");
  EXPECT_EQ(r->messages[5].text, "ok");
  EXPECT_EQ(r->last_user_text(), "Weather in Paris?");
  // Unknown-to-Triage fields are passed through untouched.
  EXPECT_EQ(r->body.at("tool_choice").as_string(), "auto");
  EXPECT_EQ(r->body.at("tools").as_array().size(), 1u);
}

TEST(ParseChatRequest, StreamWithIncludeUsageAndSampling) {
  auto r = parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"x"}],
    "stream":true,"stream_options":{"include_usage":true},"temperature":0.7,"top_p":1,
    "max_tokens":50,"max_completion_tokens":100,"stop":["\n\n","END"],"n":1,
    "user":"u-42","metadata":{"category":"billing"},"seed":7,"response_format":{"type":"json_object"}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  ASSERT_TRUE(r->temperature.has_value());
  EXPECT_DOUBLE_EQ(*r->temperature, 0.7);
  ASSERT_TRUE(r->top_p.has_value());
  EXPECT_DOUBLE_EQ(*r->top_p, 1.0);
  ASSERT_TRUE(r->max_tokens.has_value());
  EXPECT_EQ(*r->max_tokens, 100);  // max_completion_tokens wins over the legacy max_tokens
  ASSERT_EQ(r->stop.size(), 2u);
  EXPECT_EQ(r->stop[0], "\n\n");
  EXPECT_EQ(r->stop[1], "END");
  EXPECT_EQ(r->meta.user, "u-42");
  EXPECT_EQ(r->meta.category, "billing");
  EXPECT_EQ(r->body.at("seed").as_int64(), 7);
  EXPECT_EQ(r->body.at("response_format").at("type").as_string(), "json_object");
}

TEST(ParseChatRequest, MaxTokensAloneAndStopString) {
  auto r = parse_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":12,"stop":"###"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->max_tokens.value(), 12);
  ASSERT_EQ(r->stop.size(), 1u);
  EXPECT_EQ(r->stop[0], "###");
}

TEST(ParseChatRequest, StreamWithoutOptionsAndNullsAsAbsent) {
  auto r = parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"x"}],
    "stream":true,"temperature":null,"top_p":null,"max_tokens":null,"stop":null,"n":null,
    "user":null,"stream_options":null})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->stream);
  EXPECT_FALSE(r->include_usage);
  EXPECT_FALSE(r->temperature.has_value());
  EXPECT_FALSE(r->max_tokens.has_value());
}

TEST(ParseChatRequest, StreamFalseWithNullStreamOptionsIsFine) {
  auto r = parse_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":false,"stream_options":null})");
  ASSERT_TRUE(r.ok()) << r.error().message;
}

TEST(ParseChatRequest, BoundaryValuesAccepted) {
  auto r = parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"x"}],
    "temperature":2,"top_p":0,"max_tokens":1,"stop":[]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(*r->temperature, 2.0);
  EXPECT_DOUBLE_EQ(*r->top_p, 0.0);
  EXPECT_TRUE(r->stop.empty());
}

TEST(ParseChatRequest, UnicodeAndEscapesInContent) {
  auto r = parse_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"caf\u00e9 \"q\"\n\ud83d\ude00 日本"}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->messages[0].text, "caf\xC3\xA9 \"q\"\n\xF0\x9F\x98\x80 \xE6\x97\xA5\xE6\x9C\xAC");
}

TEST(ParseChatRequest, InvalidUtf8IsAParseError) {
  std::string body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xFF\"}]}";
  auto r = parse_chat_request(body);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("We could not parse the JSON body"), std::string::npos);
}

TEST(ParseChatRequest, ErrorPositionIsOneBasedLineAndColumn) {
  auto r = parse_chat_request("{\n  \"model\": \"m\",\n  oops\n}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("line 3, column 3"), std::string::npos) << r.error().message;
}

TEST(ParseChatRequest, DeepToolSchemaWithinLimit) {
  std::string schema = "{}";
  for (int i = 0; i < 40; ++i) schema = R"({"type":"object","properties":{"a":)" + schema + "}}";
  auto r = parse_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[)" + schema + "]}");
  EXPECT_FALSE(r.ok());  // 40 levels x 2 objects exceeds the depth limit of 64...
  std::string shallow = "{}";
  for (int i = 0; i < 16; ++i) shallow = R"({"type":"object","properties":{"a":)" + shallow + "}}";
  auto ok = parse_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[)" + shallow + "]}");
  EXPECT_TRUE(ok.ok())
      << ok.error().message;  // ...but 35 nested levels are fine (Boost.JSON default limit is 32)
}

}  // namespace
}  // namespace triage::api

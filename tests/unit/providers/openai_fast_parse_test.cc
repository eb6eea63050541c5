// The fast (SAX) reader of chat completions against the DOM reader: for every body, either the
// fast reader declines (and the DOM reader decides) or both give the same completion. Also
// checks which shapes it takes itself, so a regression that made it decline everything (and
// silently cost the DOM parse again) fails too.
#include "providers/openai_fast_parse.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "providers/openai.h"
#include "providers/upstream_errors.h"

namespace triage::providers::openai {
namespace {

struct Case {
  const char* name;
  std::string body;
  bool fast;  // the fast reader takes it
};

const std::string kTypical =
    R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024",)"
    R"("system_fingerprint":"fp_1","choices":[{"index":0,"message":{"role":"assistant",)"
    R"("content":"Hello \"there\"\nwith \u00e9scapes","refusal":null,"annotations":[]},)"
    R"("logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":12,)"
    R"("completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":4,)"
    R"("audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}})";

std::vector<Case> cases() {
  return {
      {"Typical", kTypical, true},
      {"NoUsage", R"({"model":"m","choices":[{"message":{"content":"a"},"finish_reason":"stop"}]})",
       true},
      {"NullContentAndFinish",
       R"({"choices":[{"message":{"content":null},"finish_reason":null}],"usage":null})", false},
      {"NullContent", R"({"choices":[{"message":{"content":null},"finish_reason":null}]})", true},
      {"KeysInAnyOrder",
       R"({"usage":{"completion_tokens":2,"prompt_tokens":3},"choices":[{"finish_reason":"stop",)"
       R"("message":{"content":"x","role":"assistant"}}],"model":"m"})",
       true},
      {"SecondChoiceIgnored",
       R"({"choices":[{"message":{"content":"first"}},{"message":{"content":"second"},)"
       R"("finish_reason":"length"}]})",
       true},
      {"NestedUnknownObjectsWithSameKeyNames",
       R"({"meta":{"model":"not this","choices":[1],"usage":{"prompt_tokens":99}},)"
       R"("choices":[{"message":{"content":"y","extra":{"content":"no"}}}]})",
       true},
      {"DoubleTokens",
       R"({"choices":[{"message":{"content":"z"}}],"usage":{"prompt_tokens":5.0,"completion_tokens":2}})",
       true},
      {"ToolCalls",
       R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function",)"
       R"("function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]})",
       false},
      {"Logprobs",
       R"({"choices":[{"message":{"content":"a b"},"logprobs":{"content":[{"token":"a",)"
       R"("logprob":-0.1},{"token":" b","logprob":-0.2}]}}]})",
       false},
      {"RepeatedContent", R"({"choices":[{"message":{"content":"a","content":"b"}}]})", false},
      {"ContentNotAString", R"({"choices":[{"message":{"content":[{"type":"text"}]}}]})", false},
      {"ModelNotAString", R"({"model":5,"choices":[{"message":{"content":"a"}}]})", false},
      {"NoChoices", R"({"model":"m"})", false},
      {"EmptyChoices", R"({"choices":[]})", false},
      {"ChoiceNotAnObject", R"({"choices":["a"]})", false},
      {"NoMessage", R"({"choices":[{"finish_reason":"stop"}]})", false},
      {"NotJson", "<html>502</html>", false},
      {"Truncated", kTypical.substr(0, kTypical.size() / 2), false},
      {"TrailingGarbage", kTypical + "x", false},
      {"TopLevelArray", R"([{"choices":[{"message":{"content":"a"}}]}])", false},
  };
}

class FastParse : public ::testing::TestWithParam<Case> {};

TEST_P(FastParse, AgreesWithTheDomReader) {
  const Case& c = GetParam();
  bool fast_usage = false, dom_usage = false;
  auto fast = parse_response_fast(c.body, "catalog-name", fast_usage);
  EXPECT_EQ(fast.has_value(), c.fast);
  auto dom = parse_response_dom(c.body, "catalog-name", dom_usage);
  if (!fast) return;  // declined: the DOM reader's answer (or error) stands
  ASSERT_TRUE(dom.ok()) << dom.error().message;
  EXPECT_EQ(fast->content, dom->content);
  EXPECT_EQ(fast->finish_reason, dom->finish_reason);
  EXPECT_EQ(fast->model, dom->model);
  EXPECT_EQ(fast->upstream_model, dom->upstream_model);
  EXPECT_EQ(fast->usage.prompt_tokens, dom->usage.prompt_tokens);
  EXPECT_EQ(fast->usage.completion_tokens, dom->usage.completion_tokens);
  EXPECT_EQ(fast->usage.cached_prompt_tokens, dom->usage.cached_prompt_tokens);
  EXPECT_EQ(fast->usage.estimated, dom->usage.estimated);
  EXPECT_EQ(fast_usage, dom_usage);
  EXPECT_TRUE(fast->tool_calls.is_null());
  EXPECT_TRUE(fast->token_logprobs.empty());
}

INSTANTIATE_TEST_SUITE_P(Bodies, FastParse, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(FastParse, ReadsTheTypicalBody) {
  bool usage = false;
  auto c = parse_response_fast(kTypical, "catalog-name", usage);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->content, "Hello \"there\"\nwith \u00e9scapes");
  EXPECT_EQ(c->finish_reason, "length");
  EXPECT_EQ(c->upstream_model, "gpt-4o-mini-2024");
  EXPECT_EQ(c->model, "catalog-name");
  EXPECT_EQ(c->usage.prompt_tokens, 12);
  EXPECT_EQ(c->usage.completion_tokens, 7);
  EXPECT_EQ(c->usage.cached_prompt_tokens, 4);
  EXPECT_TRUE(usage);
}

// Found by fuzzing (fuzz/regressions/openai_response/): a token count beyond int64 was an
// undefined double-to-integer conversion. Counts saturate into [0, kMaxUpstreamTokens] in
// both readers, and a negative or absurd count cannot make a cost negative or a sum overflow.
TEST(FastParse, OutOfRangeTokenCountsClampInBothReaders) {
  const std::string body =
      R"({"choices":[{"message":{"content":"a"}}],"usage":{"prompt_tokens":1e300,)"
      R"("completion_tokens":-7,"prompt_tokens_details":{"cached_tokens":18446744073709551615}}})";
  bool fast_usage = false, dom_usage = false;
  auto fast = parse_response_fast(body, "m", fast_usage);
  auto dom = parse_response_dom(body, "m", dom_usage);
  ASSERT_TRUE(fast.has_value());
  ASSERT_TRUE(dom.ok()) << dom.error().message;
  for (const core::Completion* c : {&*fast, &*dom}) {
    EXPECT_EQ(c->usage.prompt_tokens, kMaxUpstreamTokens);
    EXPECT_EQ(c->usage.completion_tokens, 0);
    EXPECT_EQ(c->usage.cached_prompt_tokens, kMaxUpstreamTokens);
  }
  EXPECT_EQ(json_number_to_int64(1e300), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(json_number_to_int64(-1e300), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(json_number_to_int64(std::numeric_limits<double>::quiet_NaN()), 0);
  EXPECT_EQ(json_number_to_int64(uint64_t{18446744073709551615u}),
            std::numeric_limits<int64_t>::max());
}

TEST(FastParse, ParseResponseStillReadsWhatTheFastReaderDeclines) {
  bool usage = false;
  auto r = parse_response(
      R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function",)"
      R"("function":{"name":"f","arguments":"{}"}}]}}]})",
      "m", usage);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->tool_calls.is_array());
  EXPECT_EQ(r->finish_reason, "tool_calls");
  auto bad = parse_response(R"({"choices":[]})", "m", usage);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("no choices"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace triage::providers::openai

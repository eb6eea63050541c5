#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "checks/builtin.h"
#include "checks/rule_checks.h"
#include "config/config.h"

namespace triage::checks {
namespace {

// Builds a check from YAML the way a cascade does (a list item at "checks[0]").
std::unique_ptr<routes::Check> build(const std::string& yaml) {
  register_builtin_checks();
  YAML::Node n = YAML::Load(yaml);
  return routes::CheckRegistry::build(config::Field(n, "checks[0]", "t.yaml", 3));
}

routes::Verdict judge(routes::Check& check, const std::string& answer) {
  core::ChatRequest req;
  req.messages.push_back({"user", "question", {}});
  core::Completion c;
  c.content = answer;
  return dynamic_cast<SyncCheck&>(check).evaluate(req, c);
}

std::string config_error(const std::string& yaml) {
  try {
    (void)build(yaml);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(RuleChecks, NonEmpty) {
  auto c = build("non_empty");
  EXPECT_EQ(c->name(), "non_empty/1");
  EXPECT_TRUE(judge(*c, "hi").pass);
  EXPECT_FALSE(judge(*c, "").pass);
  auto v = judge(*c, " \n\t");
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(v.reason, "answer is only whitespace");
  EXPECT_EQ(v.score, 0.0);
}

TEST(RuleChecks, LengthInCharsAndTokens) {
  auto c = build("{type: length, min_chars: 5, max_chars: 20}");
  EXPECT_FALSE(judge(*c, "abc").pass);
  EXPECT_TRUE(judge(*c, "abcdef").pass);
  auto v = judge(*c, std::string(30, 'a'));
  EXPECT_FALSE(v.pass);
  EXPECT_NE(v.reason.find("max_chars 20"), std::string::npos) << v.reason;
  auto t = build("{type: length, max_tokens: 3}");
  EXPECT_TRUE(judge(*t, "two words").pass);
  EXPECT_FALSE(judge(*t, "one two three four five six seven").pass);
  EXPECT_NE(config_error("{type: length}").find("at least one of"), std::string::npos);
  EXPECT_NE(config_error("{type: length, min_chars: 10, max_chars: 5}")
                .find("checks[0].max_chars: must be >= min_chars"),
            std::string::npos);
}

TEST(RuleChecks, RegexMustAndMustNot) {
  auto c = build(R"({type: regex, must_match: "####\\s*\\d+", must_not_match: ["(?i)as an ai"]})");
  EXPECT_TRUE(judge(*c, "so 3 + 4 = 7\n#### 7").pass);
  auto miss = judge(*c, "the answer is 7");
  EXPECT_FALSE(miss.pass);
  EXPECT_NE(miss.reason.find("no match for must_match"), std::string::npos);
  auto bad = judge(*c, "As an AI I think #### 7");
  EXPECT_FALSE(bad.pass);
  EXPECT_NE(bad.reason.find("matched 'As an AI'"), std::string::npos) << bad.reason;
}

TEST(RuleChecks, BadRegexIsAConfigErrorWithPathAndRe2Message) {
  const std::string e = config_error(R"({type: regex, must_not_match: ["ok", "(unclosed"]})");
  EXPECT_NE(e.find("checks[0].must_not_match[1]: invalid regular expression '(unclosed'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("missing )"), std::string::npos) << e;  // RE2's own words
}

TEST(RuleChecks, UnknownTypeAndFieldsSuggest) {
  EXPECT_NE(config_error("{type: regexp, must_match: x}").find("did you mean 'regex'"),
            std::string::npos);
  EXPECT_NE(config_error("{type: regex, must_mach: x}").find("must_mach"), std::string::npos);
  EXPECT_NE(config_error("non_emtpy").find("did you mean 'non_empty'"), std::string::npos);
}

TEST(RuleChecks, Refusal) {
  auto c = build("refusal");
  auto v = judge(*c, "I’m sorry, but I can’t help with that request.");
  EXPECT_FALSE(v.pass);
  EXPECT_NE(v.reason.find("i'm sorry, but"), std::string::npos) << v.reason;
  EXPECT_TRUE(judge(*c, "Sure! Here is how to bake bread.").pass);
  // Only the opening window counts.
  EXPECT_TRUE(judge(*c, std::string(500, 'x') + " I cannot help noticing...").pass);
  auto custom = build("{type: refusal, phrases: [nope], window_chars: 0}");
  EXPECT_FALSE(judge(*custom, std::string(500, 'x') + " NOPE").pass);
  EXPECT_TRUE(judge(*custom, "I'm sorry, but no").pass);
  auto extra = build("{type: refusal, extra_phrases: [not allowed to say]}");
  EXPECT_FALSE(judge(*extra, "I am not allowed to say.").pass);
  EXPECT_FALSE(judge(*extra, "I am unable to do that.").pass);
}

TEST(RuleChecks, FinalAnswer) {
  auto c = build("final_answer");
  auto v = judge(*c, "2 + 3 = 5\n#### 5");
  EXPECT_TRUE(v.pass);
  EXPECT_EQ(v.reason, "final answer '5'");
  EXPECT_TRUE(judge(*c, "So the answer is $1,200.").pass);
  EXPECT_EQ(judge(*c, "So the answer is $1,200.").reason, "final answer '1,200'");
  EXPECT_TRUE(judge(*c, "\\boxed{42}").pass);
  EXPECT_FALSE(judge(*c, "I computed several things but never concluded").pass);
  auto custom = build(R"y({type: final_answer, pattern: "ANSWER: ([A-D])"})y");
  EXPECT_TRUE(judge(*custom, "ANSWER: C").pass);
  EXPECT_FALSE(judge(*custom, "ANSWER: E").pass);
}

TEST(RuleChecks, Json) {
  auto c = build("json");
  EXPECT_TRUE(judge(*c, R"({"a": 1})").pass);
  EXPECT_TRUE(judge(*c, "```json\n{\"a\": 1}\n```").pass);
  auto bad = judge(*c, "{a: 1}");
  EXPECT_FALSE(bad.pass);
  EXPECT_NE(bad.reason.find("not valid JSON"), std::string::npos);

  auto s = build(R"(
type: json
schema:
  type: object
  required: [intent, confidence]
  properties:
    intent: {type: string, enum: [refund, billing, other]}
    confidence: {type: number}
    tags: {type: array, items: {type: string}}
)");
  EXPECT_TRUE(judge(*s, R"({"intent": "refund", "confidence": 0.9, "tags": ["a"]})").pass);
  EXPECT_TRUE(judge(*s, R"({"intent": "refund", "confidence": 1})").pass);  // integer is a number
  auto missing = judge(*s, R"({"intent": "refund"})");
  EXPECT_FALSE(missing.pass);
  EXPECT_EQ(missing.reason, "schema mismatch: $: missing required property 'confidence'");
  auto wrong_enum = judge(*s, R"({"intent": "hello", "confidence": 1})");
  EXPECT_EQ(wrong_enum.reason, "schema mismatch: $.intent: \"hello\" is not one of the allowed values");
  auto wrong_item = judge(*s, R"({"intent": "other", "confidence": 1, "tags": ["a", 3]})");
  EXPECT_EQ(wrong_item.reason, "schema mismatch: $.tags[1]: expected string, got integer");
  EXPECT_NE(config_error("{type: json, schema: {type: obj}}").find("unknown type 'obj'"),
            std::string::npos);
  EXPECT_NE(config_error("{type: json, schema: {minLength: 3}}").find("minLength"),
            std::string::npos);
}

TEST(RuleChecks, RunTracedAppendsACheckSpan) {
  auto c = build("non_empty");
  core::Trace trace;
  routes::ExecContext ctx{trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(5)};
  core::ChatRequest req;
  core::Completion answer;
  boost::asio::io_context ioc;
  auto fut = boost::asio::co_spawn(ioc, routes::run_traced(*c, req, answer, ctx),
                                   boost::asio::use_future);
  ioc.run();
  routes::Verdict v = fut.get();
  EXPECT_FALSE(v.pass);
  ASSERT_EQ(trace.spans.size(), 1u);
  EXPECT_EQ(trace.spans[0].kind, core::SpanKind::kCheck);
  EXPECT_EQ(trace.spans[0].name, "non_empty/1");
  EXPECT_EQ(trace.spans[0].detail, "answer is empty");
  EXPECT_FALSE(trace.spans[0].ok);
}

}  // namespace
}  // namespace triage::checks

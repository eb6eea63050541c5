// Checks that call a model (verifier, agreement), run inside cascades over scripted models.
#include <gtest/gtest.h>

#include <algorithm>

#include "../routes/route_harness.h"
#include "checks/agreement_check.h"
#include "checks/builtin.h"
#include "checks/verifier_check.h"
#include "routes/knob.h"

namespace triage::checks {
namespace {

using routes::testing::Harness;
using routes::testing::build_error;
using routes::testing::user_request;

const std::string kModels = R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small,
     prices: {input: 1, output: 1}}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large,
     prices: {input: 10, output: 30}}
  - {name: judge, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium,
     prices: {input: 5, output: 5}}
)";

struct ModelChecksTest : ::testing::Test {
  void SetUp() override { register_builtin_checks(); }
};

bool has_flag(const core::Trace& t, core::ReviewFlag f) { return core::has_flag(t.flags, f); }

const core::Span* check_span(const core::Trace& t, const std::string& name) {
  for (const auto& s : t.spans) {
    if (s.kind == core::SpanKind::kCheck && s.name == name) return &s;
  }
  return nullptr;
}

int model_calls(const core::Trace& t, const std::string& model) {
  return static_cast<int>(std::count_if(t.spans.begin(), t.spans.end(), [&](const core::Span& s) {
    return s.kind == core::SpanKind::kModelCall && s.name == model;
  }));
}

struct VerdictCase {
  const char* reply;
  std::optional<bool> expected;
};

TEST(ParseVerdict, Table) {
  const VerdictCase cases[] = {
      {"yes", true},
      {"Yes.", true},
      {"YES, the answer is right", true},
      {"**Correct**", true},
      {"correct", true},
      {"True", true},
      {"Verdict: yes", true},
      {"Final answer: no", false},
      {"no", false},
      {"No, 16 - 3 is 13.", false},
      {"Incorrect.", false},
      {"incorrect: the total is wrong", false},
      {"  \n wrong", false},
      {"false", false},
      {"maybe", std::nullopt},
      {"", std::nullopt},
      {"The answer is correct", std::nullopt},  // first word decides; "the" is no verdict
      {"yesterday", std::nullopt},
      {"Final thoughts: yes", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_verdict(c.reply), c.expected) << "reply: '" << c.reply << "'";
  }
}

const std::string kVerifierConfig = kModels + R"(
routes:
  - name: math
    type: cascade
    steps:
      - route: small
        checks: [{type: verifier, route: judge}]
      - route: large
)";

TEST_F(ModelChecksTest, VerifierYesAcceptsAndKeepsTheAnswerAttribution) {
  Harness h(kVerifierConfig);
  h.fake("small").answer = "7";
  h.fake("judge").answer = "Yes.";
  core::Trace trace;
  auto r = h.run("math", user_request("3 + 4?"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "7");
  EXPECT_EQ(trace.model, "small");  // the verifier's call does not take the attribution
  EXPECT_EQ(trace.tier, "small");
  EXPECT_EQ(h.fake("large").calls, 0);
  EXPECT_EQ(model_calls(trace, "judge"), 1);
  const core::Span* s = check_span(trace, "verifier/1");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->ok);
  EXPECT_GT(s->cost_usd, 0.0);  // the judge's call, priced
  EXPECT_FALSE(has_flag(trace, core::ReviewFlag::kVerificationFailed));
}

TEST_F(ModelChecksTest, VerifierNoEscalatesAndFlags) {
  Harness h(kVerifierConfig);
  h.fake("small").answer = "8";
  h.fake("judge").answer = "No, it is 7.";
  core::Trace trace;
  auto r = h.run("math", user_request("3 + 4?"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from large");
  EXPECT_EQ(trace.model, "large");
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kVerificationFailed));
  const core::Span* s = check_span(trace, "verifier/1");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->ok);
  EXPECT_NE(s->detail.find("verifier said no"), std::string::npos) << s->detail;
}

TEST_F(ModelChecksTest, VerifierUnparseableFails) {
  Harness h(kVerifierConfig);
  h.fake("judge").answer = "Hard to say.";
  core::Trace trace;
  auto r = h.run("math", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(trace.model, "large");
  const core::Span* s = check_span(trace, "verifier/1");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->detail.rfind("unparseable verdict", 0), 0u) << s->detail;
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kVerificationFailed));
}

TEST_F(ModelChecksTest, VerifierCustomTemplateAndPassOnNo) {
  Harness h(kModels + R"(
routes:
  - name: math
    type: cascade
    steps:
      - route: small
        checks:
          - type: verifier
            route: judge
            template: "Q={question} A={answer}. Is there a mistake?"
            pass_on: no
      - route: large
)");
  h.fake("small").answer = "7";
  h.fake("judge").answer = "no";
  core::Trace trace;
  auto r = h.run("math", user_request("3 + 4?"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "7");
  EXPECT_FALSE(has_flag(trace, core::ReviewFlag::kVerificationFailed));
}

TEST_F(ModelChecksTest, VerifierConfigErrors) {
  EXPECT_NE(build_error(kModels + R"(
routes:
  - name: m
    type: cascade
    steps:
      - route: small
        checks: [{type: verifier, route: nosuch}]
      - route: large
)").find("nosuch"),
            std::string::npos);
  EXPECT_NE(build_error(kModels + R"(
routes:
  - name: m
    type: cascade
    steps:
      - route: small
        checks: [{type: verifier, route: judge, template: "{question} {answr}"}]
      - route: large
)").find("answr"),
            std::string::npos);
  EXPECT_NE(build_error(kModels + R"(
routes:
  - name: m
    type: cascade
    steps:
      - route: small
        checks: [{type: verifier, route: judge, pass_on: maybe}]
      - route: large
)").find("maybe"),
            std::string::npos);
}

TEST(ExtractAnswer, Modes) {
  EXPECT_EQ(extract_answer("so 3 + 4 = 7, total $1,234.50", Extract::kNumber), "1234.5");
  EXPECT_EQ(extract_answer("no digits", Extract::kNumber), std::nullopt);
  EXPECT_EQ(extract_answer("I think the answer is (C).", Extract::kOption), "C");
  EXPECT_EQ(extract_answer("B", Extract::kOption), "B");
  EXPECT_EQ(extract_answer("probably something", Extract::kOption), std::nullopt);
  // RouterBench-style replies: a letter marked as an option, not an English word.
  EXPECT_EQ(extract_answer("A)", Extract::kOption), "A");
  EXPECT_EQ(extract_answer("D\n", Extract::kOption), "D");
  EXPECT_EQ(extract_answer("D (the availability of clean resources)", Extract::kOption), "D");
  EXPECT_EQ(extract_answer("B. Because the sugar", Extract::kOption), "B");
  EXPECT_EQ(extract_answer("C: rock", Extract::kOption), "C");
  EXPECT_EQ(extract_answer("A chart shows", Extract::kOption), std::nullopt);
  EXPECT_EQ(extract_answer("I do not know", Extract::kOption), std::nullopt);
  EXPECT_EQ(extract_answer("Rachel", Extract::kOption), std::nullopt);
  EXPECT_EQ(extract_answer("  Paris! ", Extract::kText), "paris");
  EXPECT_EQ(extract_answer("PARIS.", Extract::kText), "paris");
}

const std::string kAgreementConfig = kModels + R"(
routes:
  - name: math
    type: cascade
    steps:
      - route: small
        checks: [{type: agreement, route: judge, extract: number}]
      - route: large
)";

TEST_F(ModelChecksTest, AgreementPassesWhenNumbersMatch) {
  Harness h(kAgreementConfig);
  h.fake("small").answer = "3 + 4 = 7, so $1,007 total";
  h.fake("judge").answer = "The total is 1007.";
  core::Trace trace;
  auto r = h.run("math", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(trace.model, "small");
  EXPECT_EQ(h.fake("judge").calls, 1);
  const core::Span* s = check_span(trace, "agreement/1");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->ok);
  EXPECT_GT(s->cost_usd, 0.0);
  EXPECT_NE(s->detail.find("'1007'"), std::string::npos) << s->detail;
}

TEST_F(ModelChecksTest, AgreementFailsWhenAnswersDiffer) {
  Harness h(kAgreementConfig);
  h.fake("small").answer = "12";
  h.fake("judge").answer = "13";
  core::Trace trace;
  auto r = h.run("math", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(trace.model, "large");
  const core::Span* s = check_span(trace, "agreement/1");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->ok);
  EXPECT_EQ(s->detail, "'12' vs '13' (judge)");
}

TEST_F(ModelChecksTest, AgreementFailsOnSecondModelError) {
  Harness h(kAgreementConfig);
  h.fake("small").answer = "12";
  h.fake("judge").fail = make_error(ErrorCode::kUpstreamError, "boom");
  core::Trace trace;
  auto r = h.run("math", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(trace.model, "large");
  const core::Span* s = check_span(trace, "agreement/1");
  ASSERT_NE(s, nullptr);
  EXPECT_NE(s->detail.find("second answer failed"), std::string::npos) << s->detail;
}

TEST_F(ModelChecksTest, AgreementWithoutRouteResamplesTheSameModel) {
  Harness h(kModels + R"(
routes:
  - name: quiz
    type: cascade
    steps:
      - route: small
        checks: [{type: agreement, extract: option}]
      - route: large
)");
  h.fake("small").answer = "The answer is (B).";
  core::Trace trace;
  auto r = h.run("quiz", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "The answer is (B).");
  EXPECT_EQ(h.fake("small").calls, 2);  // the answer and its resample
  EXPECT_EQ(h.fake("large").calls, 0);
  EXPECT_EQ(model_calls(trace, "small"), 2);
}

TEST_F(ModelChecksTest, AgreementNoExtractableAnswerFails) {
  Harness h(kAgreementConfig);
  h.fake("small").answer = "no idea";
  core::Trace trace;
  auto r = h.run("math", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(h.fake("judge").calls, 0);  // nothing to compare: no second call
  const core::Span* s = check_span(trace, "agreement/1");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->detail, "no number in the answer");
}

// Several second opinions: small answers, a/b/c are asked in order, large is the escalation.
std::string several_opinions(const std::string& min_agree) {
  return R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small,
     prices: {input: 1, output: 1}}
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1", prices: {input: 1, output: 1}}
  - {name: b, provider: openai, endpoint: "http://127.0.0.1:9/v1", prices: {input: 1, output: 1}}
  - {name: c, provider: openai, endpoint: "http://127.0.0.1:9/v1", prices: {input: 1, output: 1}}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large,
     prices: {input: 10, output: 30}}
routes:
  - name: quiz
    type: cascade
    steps:
      - route: small
        checks: [{type: agreement, routes: [a, b, c], extract: option)" +
         (min_agree.empty() ? "" : ", min_agree: " + min_agree) + R"(}]
      - route: large
)";
}

TEST_F(ModelChecksTest, AgreementOfSeveralNeedsAllByDefaultAndStopsAtFirstDissent) {
  Harness h(several_opinions(""));
  h.fake("small").answer = "B";
  h.fake("a").answer = "B)";
  h.fake("b").answer = "C";
  h.fake("c").answer = "B";
  core::Trace trace;
  auto r = h.run("quiz", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(trace.model, "large");
  // 3 of 3 needed: once b dissents the verdict is decided, so c is never paid for.
  EXPECT_EQ(h.fake("a").calls, 1);
  EXPECT_EQ(h.fake("b").calls, 1);
  EXPECT_EQ(h.fake("c").calls, 0);
  const core::Span* s = check_span(trace, "agreement/1");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->ok);
  EXPECT_EQ(s->detail, "1 of 3 agree on 'B' (need 3): 'B' vs 'C' (b)");
}

TEST_F(ModelChecksTest, AgreementOfSeveralStopsOnceMinAgreeIsReached) {
  Harness h(several_opinions("2"));
  h.fake("small").answer = "The answer is A";
  h.fake("a").answer = "C";
  h.fake("b").answer = "A";
  h.fake("c").answer = "(A)";
  core::Trace trace;
  auto r = h.run("quiz", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(trace.model, "small");  // b and c agree: 2 of 3
  EXPECT_EQ(h.fake("large").calls, 0);
  EXPECT_EQ(h.fake("c").calls, 1);
  const core::Span* s = check_span(trace, "agreement/1");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->ok);
  EXPECT_EQ(s->detail, "2 of 3 agree on 'A' (need 2): 'A' vs 'C' (a)");

  // Once 2 agree, later opinions are not asked.
  Harness h2(several_opinions("2"));
  h2.fake("small").answer = "A";
  h2.fake("a").answer = "A";
  h2.fake("b").answer = "A";
  core::Trace t2;
  ASSERT_TRUE(h2.run("quiz", user_request("q"), t2).ok());
  EXPECT_EQ(t2.model, "small");
  EXPECT_EQ(h2.fake("c").calls, 0);
}

TEST_F(ModelChecksTest, AgreementMinAgreeIsADiscreteKnobFromAlwaysAcceptToAlwaysEscalate) {
  Harness h(several_opinions("2"));
  auto* cascade = h.table().find("quiz");
  ASSERT_NE(cascade, nullptr);
  const std::vector<routes::Knob*> knobs = routes::knobs_of(*cascade);
  ASSERT_EQ(knobs.size(), 1u);
  routes::Knob& k = *knobs[0];
  EXPECT_EQ(k.name(), "min_agree");
  EXPECT_DOUBLE_EQ(k.get(), 2.0);
  EXPECT_DOUBLE_EQ(k.step(), 1.0);
  EXPECT_EQ(k.range(), (std::pair<double, double>{0.0, 4.0}));
  h.fake("small").answer = "B";
  h.fake("a").answer = "C";
  h.fake("b").answer = "C";
  h.fake("c").answer = "C";

  k.set(0);  // accept without asking anyone
  core::Trace t0;
  ASSERT_TRUE(h.run("quiz", user_request("q"), t0).ok());
  EXPECT_EQ(t0.model, "small");
  EXPECT_EQ(h.fake("a").calls, 0);

  k.set(4);  // more than there are opinions: escalate without asking anyone
  h.fake("small").answer = "C";
  core::Trace t4;
  ASSERT_TRUE(h.run("quiz", user_request("q"), t4).ok());
  EXPECT_EQ(t4.model, "large");
  EXPECT_EQ(h.fake("a").calls, 0);

  k.set(1);  // one of three agreeing is enough
  core::Trace t1;
  ASSERT_TRUE(h.run("quiz", user_request("q"), t1).ok());
  EXPECT_EQ(t1.model, "small");
  EXPECT_EQ(h.fake("a").calls, 1);
  EXPECT_EQ(h.fake("b").calls, 0);
}

TEST_F(ModelChecksTest, AgreementConfigErrors) {
  EXPECT_NE(build_error(several_opinions("5")).find("min_agree"), std::string::npos);
  EXPECT_NE(build_error(kModels + R"(
routes:
  - name: m
    type: cascade
    steps:
      - route: small
        checks: [{type: agreement, route: judge, routes: [judge]}]
      - route: large
)").find("not both"),
            std::string::npos);
}

TEST_F(ModelChecksTest, ModelChecksNeedARouteTable) {
  YAML::Node n = YAML::Load("{type: verifier, route: judge}");
  EXPECT_THROW(routes::CheckRegistry::build(config::Field(n, "checks[0]", "t.yaml", 3)),
               config::ConfigError);
}

}  // namespace
}  // namespace triage::checks

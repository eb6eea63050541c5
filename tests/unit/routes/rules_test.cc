#include "routes/rules.h"

#include <gtest/gtest.h>

#include "route_harness.h"

namespace triage::routes {
namespace {

using testing::Harness;
using testing::build_error;
using testing::user_request;

const char* kModels = R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: medium, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
)";

const std::string kConfig = std::string(kModels) + R"y(
routes:
  - name: smart
    type: rules
    rules:
      - name: long
        when: {min_tokens: 200}
        route: large
      - name: vip
        when: {cohort: [vip, staff], max_tokens: 199}
        route: large
      - name: code
        when: {regex: "(?i)\\b(stack trace|segfault|compile)"}
        route: medium
      - name: billing
        when: {keywords: [refund, "credit card"], category: billing}
        route: small
      - name: key
        when: {api_key_id: key_abc123, user: alice}
        route: medium
    default: small
)y";

struct Golden {
  std::string text;
  std::string category, cohort, api_key_id, user;
  std::string rule;  // expected rule name, "" for default
};

TEST(RulesRoute, GoldenDecisions) {
  Harness h(kConfig);
  auto& rules = dynamic_cast<RulesRoute&>(h.route("smart"));
  EXPECT_EQ(rules.kind(), "rules/1");
  std::string long_text;  // 300 words: ~390 tokens by the estimate
  for (int i = 0; i < 300; ++i) long_text += "word ";
  const std::vector<Golden> golden = {
      {"hi", "", "", "", "", ""},
      {long_text, "", "", "", "", "long"},
      {long_text, "billing", "vip", "", "", "long"},  // first match wins
      {"hello", "", "vip", "", "", "vip"},
      {"hello", "", "staff", "", "", "vip"},
      {"hello", "", "free", "", "", ""},
      {"My build fails to COMPILE", "", "", "", "", "code"},
      {"compiled fine", "", "", "", "", "code"},  // a regex is unanchored: "compile" + "d"
      {"I want a refund please", "billing", "", "", "", "billing"},
      {"I want a REFUND please", "billing", "", "", "", "billing"},
      {"refunds?", "billing", "", "", "", ""},  // keywords are whole words
      {"charge my credit card", "billing", "", "", "", "billing"},
      {"I want a refund please", "sales", "", "", "", ""},  // category must match too
      {"x", "", "", "key_abc123", "alice", "key"},
      {"x", "", "", "key_abc123", "bob", ""},
  };
  for (const auto& g : golden) {
    core::ChatRequest req = user_request(g.text);
    req.meta.category = g.category;
    req.meta.cohort = g.cohort;
    req.meta.api_key_id = g.api_key_id;
    req.meta.user = g.user;
    const int d = rules.decide(req);
    const std::string got = d < 0 ? "" : rules.rules()[static_cast<size_t>(d)].name;
    EXPECT_EQ(got, g.rule) << g.text.substr(0, 40);
  }
}

TEST(RulesRoute, RunRoutesToTheTargetAndTracesTheDecision) {
  Harness h(kConfig);
  core::Trace trace;
  auto req = user_request("My code segfaults");
  req.meta.cohort = "free";
  auto r = h.run("smart", req, trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from medium");
  EXPECT_EQ(h.fake("medium").calls, 1);
  EXPECT_EQ(h.fake("small").calls, 0);
  ASSERT_EQ(trace.spans.size(), 2u);
  EXPECT_EQ(trace.spans[0].kind, core::SpanKind::kRoute);
  EXPECT_EQ(trace.spans[0].name, "smart");
  EXPECT_EQ(trace.spans[0].detail,
            "rules/1: rule 'code' (regex (?i)\\b(stack trace|segfault|compile)) -> medium");
  EXPECT_EQ(trace.spans[1].kind, core::SpanKind::kModelCall);
  EXPECT_EQ(trace.model, "medium");

  core::Trace t2;
  ASSERT_TRUE(h.run("smart", user_request("hi"), t2).ok());
  EXPECT_EQ(t2.spans[0].detail, "rules/1: default -> small");
}

TEST(RulesRoute, StreamsThroughTheChosenTarget) {
  Harness h(kConfig);
  testing::RecordingSink sink;
  core::Trace trace;
  auto r = h.run("smart", user_request("refund"), trace, &sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(sink.text, "answer from small");
  EXPECT_EQ(h.fake("small").stream_calls, 1);
}

TEST(RulesRoute, RulesMayTargetEarlierRoutes) {
  Harness h(std::string(kModels) + R"(
routes:
  - name: inner
    type: rules
    rules: [{when: {keywords: [x]}, route: large}]
    default: medium
  - name: outer
    type: rules
    rules: [{when: {category: math}, route: inner}]
    default: small
)");
  auto req = user_request("x marks the spot");
  req.meta.category = "math";
  core::Trace trace;
  auto r = h.run("outer", req, trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from large");
  ASSERT_EQ(trace.spans.size(), 3u);  // outer decision, inner decision, model call
  EXPECT_EQ(trace.spans[1].name, "inner");
}

TEST(RulesRoute, BadDeclarationsAreRefusedWithTheirPath) {
  const std::string base = std::string(kModels) + "routes:\n  - name: r\n    type: rules\n";
  // A bad regex: path and RE2's message.
  std::string e = build_error(base + "    rules: [{when: {regex: \"(a\"}, route: small}]\n"
                                     "    default: small\n");
  EXPECT_NE(e.find("t.yaml:9: routes[0].rules[0].when.regex: invalid regular expression '(a'"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("missing )"), std::string::npos) << e;
  // An unknown child.
  e = build_error(base + "    rules: [{when: {keywords: [a]}, route: huge}]\n    default: small\n");
  EXPECT_NE(e.find("routes[0].rules[0].route: unknown route or model 'huge'"), std::string::npos)
      << e;
  // A child declared later (this ordering rule is what makes cycles impossible).
  e = build_error(base + "    rules: [{when: {keywords: [a]}, route: later}]\n    default: small\n"
                         "  - {name: later, type: model, model: large}\n");
  EXPECT_NE(e.find("unknown route or model 'later'"), std::string::npos) << e;
  // A rule without conditions, a typo in a condition, a missing default.
  e = build_error(base + "    rules: [{route: large}]\n    default: small\n");
  EXPECT_NE(e.find("routes[0].rules[0].when: a rule needs at least one condition"),
            std::string::npos)
      << e;
  e = build_error(base + "    rules: [{when: {keyword: [a]}, route: large}]\n    default: small\n");
  EXPECT_NE(e.find("did you mean 'keywords'"), std::string::npos) << e;
  e = build_error(base + "    rules: [{when: {keywords: [a]}, route: large}]\n");
  EXPECT_NE(e.find("missing required field 'default'"), std::string::npos) << e;
  e = build_error(base + "    rules: [{when: {min_tokens: 10, max_tokens: 5}, route: large}]\n"
                         "    default: small\n");
  EXPECT_NE(e.find("when.max_tokens: must be >= min_tokens"), std::string::npos) << e;
}

}  // namespace
}  // namespace triage::routes

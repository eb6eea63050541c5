// The `cascade` route with real checks (unit_routes links triage_checks for them: the checks
// module sits above routes).
#include "routes/cascade.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "route_harness.h"
#include "checks/builtin.h"
#include "common/csv.h"

namespace triage::routes {
namespace {

using testing::Harness;
using testing::build_error;
using testing::user_request;

const std::string kModels = R"(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small,
     prices: {input: 1, output: 1}}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large,
     prices: {input: 10, output: 30}}
)";

const std::string kConfig = kModels + R"(
routes:
  - name: math
    type: cascade
    steps:
      - route: small
        checks: [non_empty, final_answer, arithmetic]
      - route: large
)";

struct CascadeTest : ::testing::Test {
  void SetUp() override { checks::register_builtin_checks(); }
};

bool has_flag(const core::Trace& t, core::ReviewFlag f) { return core::has_flag(t.flags, f); }

std::vector<const core::Span*> spans_of(const core::Trace& t, core::SpanKind k) {
  std::vector<const core::Span*> out;
  for (const auto& s : t.spans) {
    if (s.kind == k) out.push_back(&s);
  }
  return out;
}

TEST_F(CascadeTest, AcceptsACheapAnswerThatPassesItsChecks) {
  Harness h(kConfig);
  h.fake("small").answer = "She has 3 + 4 = 7 apples.\n#### 7";
  core::Trace trace;
  auto r = h.run("math", user_request("apples?"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "She has 3 + 4 = 7 apples.\n#### 7");
  EXPECT_EQ(h.fake("large").calls, 0);
  EXPECT_FALSE(has_flag(trace, core::ReviewFlag::kCascaded));
  EXPECT_EQ(trace.model, "small");
  auto checks = spans_of(trace, core::SpanKind::kCheck);
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_EQ(checks[0]->name, "non_empty/1");
  EXPECT_EQ(checks[1]->name, "final_answer/1");
  EXPECT_EQ(checks[2]->name, "arithmetic/1");
  EXPECT_EQ(checks[2]->detail, "1 of 1 steps consistent");
  EXPECT_EQ(trace.spans.back().kind, core::SpanKind::kRoute);
  EXPECT_EQ(trace.spans.back().detail, "cascade/1: step 0 'small' accepted");
}

TEST_F(CascadeTest, EscalatesOnAWrongStepAndKeepsEveryAttempt) {
  Harness h(kConfig);
  h.fake("small").answer = "She had 16 eggs and ate 3: 16 - 3 = 12.\n#### 12";
  core::Trace trace;
  auto r = h.run("math", user_request("eggs?"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from large");
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kCascaded));
  EXPECT_EQ(trace.model, "large");
  EXPECT_EQ(trace.tier, "large");
  auto calls = spans_of(trace, core::SpanKind::kModelCall);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]->name, "small");
  EXPECT_EQ(calls[1]->name, "large");
  EXPECT_DOUBLE_EQ(trace.cost_usd, calls[0]->cost_usd + calls[1]->cost_usd);
  auto checks = spans_of(trace, core::SpanKind::kCheck);
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_FALSE(checks[2]->ok);
  EXPECT_NE(checks[2]->detail.find("wrong step '16 - 3 = 12' (left side is 13)"),
            std::string::npos)
      << checks[2]->detail;
  EXPECT_NE(trace.spans.back().detail.find("step 0 'small' rejected (arithmetic/1: wrong step"),
            std::string::npos)
      << trace.spans.back().detail;
  EXPECT_NE(trace.spans.back().detail.find("step 1 'large' accepted"), std::string::npos);
}

TEST_F(CascadeTest, StopsCheckingAtTheFirstFailure) {
  Harness h(kConfig);
  h.fake("small").answer = "   ";
  core::Trace trace;
  ASSERT_TRUE(h.run("math", user_request("q"), trace).ok());
  auto checks = spans_of(trace, core::SpanKind::kCheck);
  ASSERT_EQ(checks.size(), 1u);  // non_empty failed; the others never ran
  EXPECT_EQ(checks[0]->detail, "answer is only whitespace");
}

TEST_F(CascadeTest, AStepErrorEscalatesButAnInvalidRequestDoesNot) {
  Harness h(kConfig);
  h.fake("small").fail = make_error(ErrorCode::kUpstreamTimeout, "slow");
  core::Trace trace;
  auto r = h.run("math", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from large");
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kCascaded));

  Harness h2(kConfig);
  h2.fake("small").fail = make_error(ErrorCode::kInvalidRequest, "bad");
  core::Trace t2;
  auto r2 = h2.run("math", user_request("q"), t2);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(h2.fake("large").calls, 0);
}

TEST_F(CascadeTest, StreamingDeliversOnlyTheAcceptedAnswer) {
  // Escalated: the rejected small answer never reaches the client; the large one streams.
  Harness h(kConfig);
  h.fake("small").answer = "16 - 3 = 12\n#### 12";
  h.fake("large").answer = "16 - 3 = 13 so the answer is 13\n#### 13";
  testing::RecordingSink sink;
  core::Trace trace;
  auto r = h.run("math", user_request("q"), trace, &sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(sink.text, "16 - 3 = 13 so the answer is 13\n#### 13");
  EXPECT_GT(sink.writes, 1);  // streamed as produced, word by word
  EXPECT_EQ(h.fake("small").stream_calls, 0);
  EXPECT_EQ(h.fake("large").stream_calls, 1);

  // Accepted early: the complete cheap answer is written once, with the role.
  Harness h2(kConfig);
  h2.fake("small").answer = "2 * 4.5 = 9\n#### 9";
  testing::RecordingSink sink2;
  core::Trace t2;
  ASSERT_TRUE(h2.run("math", user_request("q"), t2, &sink2).ok());
  EXPECT_EQ(sink2.text, "2 * 4.5 = 9\n#### 9");
  EXPECT_EQ(sink2.writes, 1);
  EXPECT_EQ(sink2.first_role, "assistant");
  EXPECT_EQ(h2.fake("small").stream_calls, 0);
  EXPECT_EQ(h2.fake("large").calls, 0);
}

TEST_F(CascadeTest, FinalStepChecksOnlyFlag) {
  Harness h(kModels + R"(
routes:
  - name: math
    type: cascade
    steps:
      - {route: small, checks: [final_answer]}
      - {route: large, checks: [final_answer]}
)");
  core::Trace trace;
  auto r = h.run("math", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from large");
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kCascaded));
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kFinalChecksFailed));
}

TEST_F(CascadeTest, BadDeclarationsAreRefusedWithTheirPath) {
  const std::string head = kModels + "routes:\n  - name: c\n    type: cascade\n    steps:\n";
  std::string e = build_error(head + "      - {route: small}\n      - {route: large}\n");
  EXPECT_NE(e.find("routes[0].steps[0].checks: every step but the last needs at least one check"),
            std::string::npos)
      << e;
  e = build_error(head + "      - {route: small, checks: [arithmetik]}\n      - {route: large}\n");
  EXPECT_NE(e.find("routes[0].steps[0].checks[0]: unknown check type 'arithmetik' (did you mean "
                   "'arithmetic'?)"),
            std::string::npos)
      << e;
  e = build_error(head +
                  "      - route: small\n        checks:\n          - non_empty\n"
                  "          - {type: regex, must_match: \"[a-\"}\n      - {route: large}\n");
  EXPECT_NE(e.find("t.yaml:14: routes[0].steps[0].checks[1].must_match: invalid regular "
                   "expression '[a-'"),
            std::string::npos)
      << e;
  e = build_error(head + "      - {route: small, checks: [non_empty]}\n");
  EXPECT_NE(e.find("a cascade needs at least two steps"), std::string::npos) << e;
  e = build_error(head + "      - {route: tiny, checks: [non_empty]}\n      - {route: large}\n");
  EXPECT_NE(e.find("routes[0].steps[0].route: unknown route or model 'tiny'"), std::string::npos)
      << e;
}

TEST_F(CascadeTest, KeepsTheAnyDatasetEvalFamily) {
  Harness h(kConfig);
  EXPECT_TRUE(std::holds_alternative<AnyDatasetEval>(h.route("math").eval_family()));
}

// The whole GSM8K pair dataset through the cascade: the small model "answers" with the weak
// model's recorded response, the large with the strong one; quality is the recorded grade of
// the answer the cascade returned.
TEST_F(CascadeTest, Gsm8kCascadeOnRecordedAnswers) {
  const CsvTable t = read_csv_file(std::string(TRIAGE_SOURCE_DIR) + "/data/routellm/gsm8k.csv");
  const size_t weak = *t.column("weak_response"), strong = *t.column("strong_response");
  const size_t wc = *t.column("weak_correct"), sc = *t.column("strong_correct");
  Harness h(kConfig);
  int n = 0, escalated = 0;
  double q_weak = 0, q_strong = 0, q_cascade = 0;
  for (const auto& row : t.rows) {
    if (!row[weak] || !row[strong] || !row[wc] || !row[sc]) continue;
    ++n;
    h.fake("small").answer = *row[weak];
    h.fake("large").answer = *row[strong];
    core::Trace trace;
    auto r = h.run("math", user_request("q"), trace);
    ASSERT_TRUE(r.ok());
    const bool esc = has_flag(trace, core::ReviewFlag::kCascaded);
    escalated += esc ? 1 : 0;
    const double w = *row[wc] == "1", s = *row[sc] == "1";
    q_weak += w;
    q_strong += s;
    q_cascade += esc ? s : w;
  }
  q_weak /= n;
  q_strong /= n;
  q_cascade /= n;
  const double share = static_cast<double>(escalated) / n;
  const double pgr = (q_cascade - q_weak) / (q_strong - q_weak);
  std::printf("gsm8k cascade [non_empty, final_answer, arithmetic]: n=%d weak=%.3f strong=%.3f "
              "cascade=%.3f strong share=%.3f PGR=%.3f\n",
              n, q_weak, q_strong, q_cascade, share, pgr);
  EXPECT_GT(q_cascade, q_weak);
  EXPECT_GT(pgr, share);  // better than random routing at the same strong share
}

}  // namespace
}  // namespace triage::routes

#include "routes/ensemble.h"

#include <gtest/gtest.h>

#include "composite_harness.h"

namespace triage::routes {
namespace {

using composite_testing::composite_build_error;
using composite_testing::CompositeHarness;
using composite_testing::RecordingSink;
using composite_testing::route_spans;
using composite_testing::user_request;

const std::string kModels = R"yaml(
models:
  - {name: a, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small, prices: {input: 1, output: 1}}
  - {name: b, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small, prices: {input: 1, output: 1}}
  - {name: c, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium, prices: {input: 1, output: 1}}
  - {name: d, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium}
  - {name: big, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
)yaml";

std::function<std::string(const std::string&)> says(std::string s) {
  return [s](const std::string&) { return s; };
}

bool has_flag(const core::Trace& t, core::ReviewFlag f) { return core::has_flag(t.flags, f); }

TEST(ExtractVote, DefaultsToOptionLetterElseLastNumber) {
  EXPECT_EQ(extract_vote("16 - 3 = 13 eggs, so she makes $26.", nullptr), "26");
  EXPECT_EQ(extract_vote("Total: 1,250.50 then #### 1,300", nullptr), "1300");
  EXPECT_EQ(extract_vote("It is 2.50 dollars", nullptr), "2.5");
  EXPECT_EQ(extract_vote("Option A looks wrong; the answer is (C).", nullptr), "C");
  EXPECT_EQ(extract_vote("Answer: B", nullptr), "B");
  EXPECT_EQ(extract_vote("  (D) ", nullptr), "D");
  EXPECT_EQ(extract_vote("the answer is a big number: 7", nullptr), "7");
  EXPECT_EQ(extract_vote("no idea", nullptr), std::nullopt);
}

TEST(ExtractVote, CustomPatternUsesGroupOneOfTheLastMatch) {
  RE2 re("FINAL: (\\w+)");
  EXPECT_EQ(extract_vote("FINAL: Paris ... FINAL: Lyon.", &re), "lyon");
  EXPECT_EQ(extract_vote("nothing final", &re), std::nullopt);
}

TEST(VoteWinner, MajorityThenChildOrder) {
  std::string tally;
  EXPECT_EQ(vote_winner({"1", "2", "2"}, &tally), 1u);
  EXPECT_EQ(tally, "'2' x2 (1, 2), '1' x1 (0)");
  // 1 and 2 tie with two votes each: 1 was given first.
  EXPECT_EQ(vote_winner({std::nullopt, "1", "2", "2", "1"}), 1u);
  EXPECT_EQ(vote_winner({"2", "1", "1", "2"}), 0u);
  EXPECT_EQ(vote_winner({std::nullopt, std::nullopt}), std::nullopt);
}

TEST(ParseJudgeChoice, FirstNumberInRange) {
  EXPECT_EQ(parse_judge_choice("2", 3, nullptr), 1u);
  EXPECT_EQ(parse_judge_choice("Candidate 3 is best.", 3, nullptr), 2u);
  EXPECT_EQ(parse_judge_choice("4", 3, nullptr), std::nullopt);
  EXPECT_EQ(parse_judge_choice("0", 3, nullptr), std::nullopt);
  EXPECT_EQ(parse_judge_choice("the second one", 3, nullptr), std::nullopt);
  EXPECT_EQ(parse_judge_choice("99999999999999999999", 3, nullptr), std::nullopt);
  RE2 re("BEST=(\\d)");
  EXPECT_EQ(parse_judge_choice("I compared 3 answers. BEST=1", 3, &re), 0u);
}

TEST(EnsembleVote, MajorityWinsAndEveryChildIsTraced) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: maj, type: ensemble, children: [a, b, c]}
)yaml");
  h.fake("a").respond = says("16 - 3 = 13");
  h.fake("b").respond = says("I think 12");
  h.fake("c").respond = says("so the answer is 13.");
  core::Trace trace;
  auto r = h.run("maj", user_request("q"), trace);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content, "16 - 3 = 13");
  EXPECT_EQ(trace.model, "a");
  EXPECT_EQ(trace.tier, "small");
  ASSERT_EQ(trace.spans.size(), 4u);  // three model calls + the vote
  EXPECT_DOUBLE_EQ(trace.cost_usd, 3 * 15 / 1e6);
  auto spans = route_spans(trace);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]->detail, "ensemble/1: vote '13' x2 (a, c), '12' x1 (b); 'a' answered");
}

TEST(EnsembleVote, TieGoesToTheFirstChild) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: maj, type: ensemble, children: [a, b, c, d]}
)yaml");
  h.fake("a").respond = says("7");
  h.fake("b").respond = says("8");
  h.fake("c").respond = says("8");
  h.fake("d").respond = says("7");
  core::Trace trace;
  auto r = h.run("maj", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "7");
  EXPECT_EQ(trace.model, "a");
}

TEST(EnsembleVote, ChildrenRunConcurrently) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: maj, type: ensemble, children: [a, b, c]}
)yaml");
  core::Trace trace;
  auto r = h.run("maj", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  // Each fake suspends before answering; run one after another, at most one would be in flight.
  EXPECT_EQ(h.log().max_in_flight, 3);
  EXPECT_EQ(h.log().calls.size(), 3u);
}

TEST(EnsembleVote, FailedChildrenDoNotVoteAndAllFailingReturnsTheFirstError) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: maj, type: ensemble, children: [a, b, c]}
)yaml");
  h.fake("a").fail = make_error(ErrorCode::kUpstreamTimeout, "slow");
  h.fake("b").respond = says("5");
  h.fake("c").respond = says("6");
  core::Trace trace;
  auto r = h.run("maj", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "5");
  EXPECT_EQ(route_spans(trace)[0]->detail,
            "ensemble/1: 'a' failed (upstream_timeout); vote '5' x1 (b), '6' x1 (c); 'b' answered");

  h.fake("b").fail = make_error(ErrorCode::kUnavailable, "x");
  h.fake("c").fail = make_error(ErrorCode::kRateLimited, "x");
  core::Trace t2;
  auto r2 = h.run("maj", user_request("q"), t2);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, ErrorCode::kUpstreamTimeout);
  EXPECT_FALSE(route_spans(t2)[0]->ok);
}

TEST(EnsembleVote, NoExtractableAnswerKeepsTheFirstAndFlags) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: maj, type: ensemble, children: [a, b], extract: "ANSWER: ([A-D])"}
)yaml");
  h.fake("a").respond = says("I believe 3");
  h.fake("b").respond = says("ANSWER: 7");
  core::Trace trace;
  auto r = h.run("maj", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "I believe 3");
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kEnsembleNoVote));
}

TEST(EnsembleVote, StreamsTheWinnerAsOneDelta) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: maj, type: ensemble, children: [a, b, c]}
)yaml");
  h.fake("a").respond = says("one two 3");
  h.fake("b").respond = says("four five 4");
  h.fake("c").respond = says("six 4");
  core::Trace trace;
  RecordingSink sink;
  auto r = h.run("maj", user_request("q"), trace, &sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(sink.text, "four five 4");
  EXPECT_EQ(sink.writes, 1);
  for (const auto& c : h.log().calls) EXPECT_FALSE(c.streamed) << c.model;
}

const std::string kJudge = kModels + R"yaml(
routes:
  - {name: best, type: ensemble, combine: judge, judge: big, children: [a, b, c]}
)yaml";

TEST(EnsembleJudge, PicksTheJudgesChoiceFromNumberedCandidates) {
  CompositeHarness h(kJudge);
  h.fake("big").respond = says("Candidate 2 is the most complete.");
  core::Trace trace;
  auto r = h.run("best", user_request("What is BM25?"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from b");
  EXPECT_EQ(trace.model, "b");  // not the judge, although it was called last
  ASSERT_EQ(h.log().calls.size(), 4u);
  const std::string& prompt = h.log().calls[3].prompt;
  EXPECT_EQ(h.log().calls[3].model, "big");
  EXPECT_NE(prompt.find("Request:\nWhat is BM25?"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("Candidate 1:\nanswer from a\n\nCandidate 2:\nanswer from b\n\n"
                        "Candidate 3:\nanswer from c"),
            std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("(1 to 3)"), std::string::npos);
  EXPECT_EQ(route_spans(trace)[0]->detail, "ensemble/1: judge 'big' picked 2 of 3; 'b' answered");
  EXPECT_EQ(trace.spans.size(), 5u);  // 3 children, the judge, the route span
}

TEST(EnsembleJudge, BadJudgeOutputFallsBackToTheFirstChildFlagged) {
  for (const std::string out : {"none of them", "7", "0"}) {
    CompositeHarness h(kJudge);
    h.fake("big").respond = says(out);
    core::Trace trace;
    auto r = h.run("best", user_request("q"), trace);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->content, "answer from a") << out;
    EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kJudgeUnparsed)) << out;
  }
}

TEST(EnsembleJudge, FailedJudgeFallsBackToTheFirstAnswer) {
  CompositeHarness h(kJudge);
  h.fake("a").fail = make_error(ErrorCode::kUpstreamError, "x");
  h.fake("big").fail = make_error(ErrorCode::kUpstreamError, "x");
  core::Trace trace;
  auto r = h.run("best", user_request("q"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from b");  // the first child that answered
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kJudgeFailed));
}

TEST(EnsembleJudge, CustomPromptAndChoicePattern) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - name: best
    type: ensemble
    combine: judge
    judge: big
    children: [a, b]
    prompt: "Q={input} N={n}\n{candidates}"
    choice_pattern: "BEST=(\\d+)"
)yaml");
  h.fake("big").respond = says("2 looks fine but BEST=1");
  core::Trace trace;
  auto r = h.run("best", user_request("hi"), trace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from a");
  EXPECT_EQ(h.log().calls.back().prompt,
            "Q=hi N=2\nCandidate 1:\nanswer from a\n\nCandidate 2:\nanswer from b");
}

TEST(EnsembleFuse, StreamsTheFusersOutput) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: merged, type: ensemble, combine: fuse, fuser: big, children: [a, b]}
)yaml");
  h.fake("big").respond = [](const std::string& prompt) {
    return prompt.find("answer from a") != std::string::npos ? "merged best answer" : "bad";
  };
  core::Trace trace;
  RecordingSink sink;
  auto r = h.run("merged", user_request("q"), trace, &sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "merged best answer");
  EXPECT_EQ(sink.text, "merged best answer");
  EXPECT_EQ(sink.writes, 3);  // streamed word by word by the fuser itself
  EXPECT_EQ(trace.model, "big");
  for (const auto& c : h.log().calls) EXPECT_EQ(c.streamed, c.model == "big") << c.model;
}

TEST(EnsembleFuse, FailedFuserKeepsTheFirstAnswer) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - {name: merged, type: ensemble, combine: fuse, fuser: big, children: [a, b]}
)yaml");
  h.fake("big").fail = make_error(ErrorCode::kUnavailable, "x");
  core::Trace trace;
  RecordingSink sink;
  auto r = h.run("merged", user_request("q"), trace, &sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "answer from a");
  EXPECT_EQ(sink.text, "answer from a");
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kFuseFailed));
}

TEST(EnsembleConfig, RefusesBadDeclarations) {
  EXPECT_NE(composite_build_error(kModels + R"yaml(
routes:
  - {name: e, type: ensemble, combine: judge, children: [a, b]}
)yaml")
                .find("routes[0].judge: `combine: judge` needs `judge: NAME`"),
            std::string::npos);
  EXPECT_NE(composite_build_error(kModels + R"yaml(
routes:
  - {name: e, type: ensemble, children: [a]}
)yaml")
                .find("routes[0].children: an ensemble needs at least two children"),
            std::string::npos);
  EXPECT_NE(composite_build_error(kModels + R"yaml(
routes:
  - {name: e, type: ensemble, combine: fuse, fuser: big, children: [a, b], prompt: "{inptu} {candidates}"}
)yaml")
                .find("routes[0].prompt: placeholder {inptu}: unknown (did you mean 'input'?)"),
            std::string::npos);
  EXPECT_NE(composite_build_error(kModels + R"yaml(
routes:
  - {name: e, type: ensemble, combine: judge, judge: big, children: [a, b], extract: "x"}
)yaml")
                .find("routes[0].extract: only `combine: vote` extracts answers"),
            std::string::npos);
  EXPECT_NE(composite_build_error(kModels + R"yaml(
routes:
  - {name: e, type: ensemble, combine: vote, children: [a, later]}
)yaml")
                .find("unknown route or model 'later'"),
            std::string::npos);
  EXPECT_NE(composite_build_error(kModels + R"yaml(
routes:
  - {name: e, type: ensemble, children: [a, b], extract: "(unclosed"}
)yaml")
                .find("routes[0].extract: invalid regular expression"),
            std::string::npos);
}

}  // namespace
}  // namespace triage::routes

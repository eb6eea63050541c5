// Pipeline steps with real checks: verdicts feed conditions, branches and prompts, failures
// flag the request for review, and the steps' knobs and logprob needs reach the route.
#include <gtest/gtest.h>

#include <algorithm>

#include "../routes/composite_harness.h"
#include "checks/builtin.h"
#include "routes/pipeline.h"

namespace triage::routes {
namespace {

using composite_testing::composite_build_error;
using composite_testing::CompositeHarness;
using composite_testing::RecordingSink;
using composite_testing::route_spans;
using composite_testing::user_request;

const std::string kModels = R"yaml(
models:
  - {name: small, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: small}
  - {name: medium, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: medium}
  - {name: large, provider: openai, endpoint: "http://127.0.0.1:9/v1", tier: large}
)yaml";

// draft -> fix (only when the draft failed its JSON check) -> answer (branches on the verdict).
const std::string kJsonRepair = kModels + R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - name: draft
        route: small
        prompt: "as JSON: {input}"
        checks: [non_empty, json]
        flag_on_fail: false
      - name: fix
        route: medium
        when: {step: draft, verdict: fail}
        prompt: "repair ({steps.draft.reason}): {steps.draft.output}"
      - name: answer
        route: small
        branch: {step: draft, on: verdict, routes: {fail: large}}
        prompt: "verdict={steps.draft.verdict} draft={steps.draft.output} fixed={steps.fix.output}"
        checks: [{type: length, max_chars: 40}]
)yaml";

struct PipelineChecksTest : ::testing::Test {
  void SetUp() override { checks::register_builtin_checks(); }
};

bool has_flag(const core::Trace& t, core::ReviewFlag f) { return core::has_flag(t.flags, f); }

std::vector<std::string> check_names(const core::Trace& t) {
  std::vector<std::string> out;
  for (const auto& s : t.spans) {
    if (s.kind == core::SpanKind::kCheck) out.push_back(s.name + (s.ok ? " ok" : " failed"));
  }
  return out;
}

TEST_F(PipelineChecksTest, APassingStepSkipsTheRepairAndFeedsItsVerdictForward) {
  CompositeHarness h(kJsonRepair);
  h.fake("small").respond = [](const std::string& p) -> std::string {
    return p.rfind("as JSON", 0) == 0 ? R"({"a": 1})" : "short";
  };
  core::Trace trace;
  auto r = h.run("p", user_request("a=1"), trace);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(h.log().models(), (std::vector<std::string>{"small", "small"}));
  EXPECT_EQ(h.log().calls[1].prompt, R"(verdict=pass draft={"a": 1} fixed=)");
  EXPECT_EQ(check_names(trace), (std::vector<std::string>{"non_empty/1 ok", "json/1 ok",
                                                          "length/1 ok"}));
  auto spans = route_spans(trace);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0]->detail, "pipeline/1: step 'draft' -> 'small', checks passed");
  EXPECT_EQ(spans[1]->detail,
            "pipeline/1: step 'fix' skipped (when draft verdict in fail: verdict 'pass')");
  EXPECT_EQ(spans[2]->detail,
            "pipeline/1: step 'answer' -> 'small' (branch on draft verdict: no route for "
            "verdict 'pass'), checks passed");
  EXPECT_FALSE(has_flag(trace, core::ReviewFlag::kStepChecksFailed));
}

TEST_F(PipelineChecksTest, AFailingStepRunsTheRepairBranchesAndTheFinalCheckFlags) {
  CompositeHarness h(kJsonRepair);
  h.fake("small").respond = [](const std::string&) { return "a is one"; };  // not JSON
  h.fake("medium").respond = [](const std::string&) { return R"({"a": 1})"; };
  h.fake("large").respond = [](const std::string&) {
    return "a long final answer that is over forty characters";
  };
  core::Trace trace;
  RecordingSink sink;
  auto r = h.run("p", user_request("a=1"), trace, &sink);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(h.log().models(), (std::vector<std::string>{"small", "medium", "large"}));
  // The failing check's reason reaches the repair prompt.
  const std::string& fix_prompt = h.log().calls[1].prompt;
  EXPECT_EQ(fix_prompt.rfind("repair (json/1: ", 0), 0u) << fix_prompt;
  EXPECT_NE(fix_prompt.find("): a is one"), std::string::npos) << fix_prompt;
  EXPECT_EQ(h.log().calls[2].prompt, R"(verdict=fail draft=a is one fixed={"a": 1})");
  // The final answer streamed even though its own check failed: final checks only flag.
  EXPECT_EQ(sink.text, "a long final answer that is over forty characters");
  EXPECT_EQ(check_names(trace), (std::vector<std::string>{"non_empty/1 ok", "json/1 failed",
                                                          "length/1 failed"}));
  auto spans = route_spans(trace);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0]->detail.rfind("pipeline/1: step 'draft' -> 'small', checks failed (json/1: ",
                                   0),
            0u)
      << spans[0]->detail;
  EXPECT_EQ(spans[2]->detail.rfind("pipeline/1: step 'answer' -> 'large' (branch on draft "
                                   "verdict = 'fail'), checks failed (length/1: ",
                                   0),
            0u)
      << spans[2]->detail;
  // draft says flag_on_fail: false; the final step's failure flags the request.
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kStepChecksFailed));
  EXPECT_EQ(trace.model, "large");
}

TEST_F(PipelineChecksTest, ChecksStopAtTheFirstFailure) {
  CompositeHarness h(kJsonRepair);
  h.fake("small").respond = [](const std::string& p) -> std::string {
    return p.rfind("as JSON", 0) == 0 ? "" : "ok";
  };
  core::Trace trace;
  ASSERT_TRUE(h.run("p", user_request("x"), trace).ok());
  // The empty draft fails non_empty; json is not run on it.
  const auto names = check_names(trace);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "non_empty/1 failed");
  EXPECT_EQ(names[1], "length/1 ok");
}

TEST_F(PipelineChecksTest, StepChecksExposeKnobsAndAskForLogprobs) {
  CompositeHarness h(kModels + R"yaml(
routes:
  - name: p
    type: pipeline
    steps:
      - name: guess
        route: small
        checks: [{type: logprob, threshold: 0.8}]
      - name: second
        route: medium
        checks: [{type: agreement, routes: [large], extract: text}]
)yaml");
  auto knobs = knobs_of(h.route("p"));
  ASSERT_EQ(knobs.size(), 2u);
  EXPECT_EQ(knobs[0]->name(), "logprob/1 threshold");
  EXPECT_DOUBLE_EQ(knobs[0]->get(), 0.8);
  EXPECT_NE(std::string(knobs[1]->name()).find("min_agree"), std::string::npos)
      << knobs[1]->name();
  core::Trace trace;
  ASSERT_TRUE(h.run("p", user_request("q"), trace).ok());
  // The step whose check reads logprobs asked its upstream for them; the others did not.
  ASSERT_EQ(h.log().models(), (std::vector<std::string>{"small", "medium", "large"}));
  EXPECT_TRUE(h.log().calls[0].logprobs);
  EXPECT_FALSE(h.log().calls[1].logprobs);
  EXPECT_FALSE(h.log().calls[2].logprobs);
  // The agreement check's call to `large` does not change who answered.
  EXPECT_EQ(trace.model, "medium");
}

// Each case: the steps of pipeline `p` (a YAML flow list) and a part of the load error.
struct RefusedSteps {
  const char* steps;
  const char* error;
};

TEST_F(PipelineChecksTest, RefusesVerdictUseWithoutChecks) {
  const RefusedSteps cases[] = {
      {"[{name: a, route: small}, {name: b, route: small, when: {step: a, verdict: fail}},"
       " {name: c, route: small}]",
       "routes[0].steps[1].when.step: step 'a' has no checks, so it has no verdict"},
      {"[{name: a, route: small, checks: [json]},"
       " {name: b, route: small, when: {step: a, verdict: failed}}, {name: c, route: small}]",
       "routes[0].steps[1].when.verdict: a verdict is pass or fail, not 'failed'"},
      {"[{name: a, route: small, checks: [json]},"
       " {name: b, route: small, branch: {step: a, on: verdict, routes: {bad: large}}}]",
       "a branch on the verdict maps pass and/or fail, not 'bad'"},
      {"[{name: a, route: small, checks: [json]},"
       " {name: b, route: small, branch: {step: a, on: score, routes: {fail: large}}}]",
       "routes[0].steps[1].branch.on: branch `on` is label (the default) or verdict"},
      {"[{name: a, route: small}, {name: b, route: small, prompt: \"{steps.a.reason}\"}]",
       "step 'a' has no checks, so its reason is always empty"},
      {"[{name: a, route: small, flag_on_fail: true}, {name: b, route: small}]",
       "routes[0].steps[0].flag_on_fail: flag_on_fail applies to a step's `checks`"},
      {"[{name: a, route: small, checks: [nonempty]}, {name: b, route: small}]",
       "unknown check type 'nonempty' (did you mean 'non_empty'?)"},
  };
  for (const auto& c : cases) {
    const std::string err = composite_build_error(
        kModels + "routes:\n  - name: p\n    type: pipeline\n    steps: " + c.steps + "\n");
    EXPECT_NE(err.find(c.error), std::string::npos) << c.steps << "\n-> " << err;
  }
}

}  // namespace
}  // namespace triage::routes

// examples/support.yaml, the reference decomposition: the route tree builds from the shipped
// file (real knowledge base, real step checks), and the pipeline runs end to end with fake
// model clients standing in for the local classifier and the two LLMs. (Here, not in
// unit_routes, because the example's steps use the built-in checks.)
#include <gtest/gtest.h>

#include <algorithm>

#include "../routes/composite_harness.h"
#include "checks/builtin.h"

namespace triage::routes {
namespace {

using composite_testing::CompositeHarness;
using composite_testing::RecordingSink;
using composite_testing::route_spans;
using composite_testing::user_request;

const std::string kSupport = std::string(TRIAGE_SOURCE_DIR) + "/examples/support.yaml";

std::unique_ptr<CompositeHarness> support(const std::string& intent) {
  checks::register_builtin_checks();
  auto h = CompositeHarness::from_file(kSupport);
  h->fake("intent-local").label = intent;
  h->fake("intent-local").confidence = 0.97;
  h->fake("intent-local").respond = [intent](const std::string&) { return intent; };
  h->fake("safety-local").respond = [](const std::string&) { return "SAFE: no rule"; };
  for (const std::string m : {"small-llm", "medium-llm"}) {
    h->fake(m).respond = [m](const std::string& prompt) {
      if (prompt.rfind("Check the draft", 0) == 0) return "FINAL from " + m;
      return "draft from " + m;
    };
  }
  return h;
}

bool has_flag(const core::Trace& t, core::ReviewFlag f) { return core::has_flag(t.flags, f); }

std::string span_detail(const core::Trace& t, const std::string& name) {
  for (const auto* s : route_spans(t)) {
    if (s->name == name) return s->detail;
  }
  return "(no span " + name + ")";
}

std::vector<std::string> step_spans(const core::Trace& t) {
  std::vector<std::string> out;
  for (const auto* s : route_spans(t)) {
    if (s->name.rfind("support.", 0) == 0) out.push_back(s->name);
  }
  return out;
}

TEST(SupportExample, LostCardGoesThroughEveryStepInOrder) {
  auto h = support("report_lost_card");
  core::Trace trace;
  RecordingSink sink;
  auto r =
      h->run("support", user_request("I lost my card yesterday, what should I do?"), trace, &sink);
  ASSERT_TRUE(r.ok()) << r.error().message;

  // Steps in order; entities is skipped for this intent (no amounts or places to extract).
  EXPECT_EQ(step_spans(trace),
            (std::vector<std::string>{"support.intent", "support.entities", "support.lookup",
                                      "support.draft", "support.safety", "support.verify"}));
  EXPECT_EQ(h->log().models(),
            (std::vector<std::string>{"intent-local", "medium-llm", "safety-local", "medium-llm"}));
  // The lookup found the lost-card article and the draft step got it.
  const std::string& draft_prompt = h->log().calls[1].prompt;
  EXPECT_NE(draft_prompt.find("[1] card-lost.md: Lost or stolen card"), std::string::npos)
      << draft_prompt;
  EXPECT_NE(draft_prompt.find("Intent: report_lost_card"), std::string::npos);
  // The final answer is the verify step's, and only it was streamed.
  EXPECT_EQ(r->content, "FINAL from medium-llm");
  EXPECT_EQ(sink.text, "FINAL from medium-llm");
  for (size_t i = 0; i < h->log().calls.size(); ++i) {
    EXPECT_EQ(h->log().calls[i].streamed, i + 1 == h->log().calls.size()) << i;
  }
  const std::string& verify_prompt = h->log().calls.back().prompt;
  EXPECT_NE(verify_prompt.find("Draft reply:\ndraft from medium-llm"), std::string::npos);
  EXPECT_NE(verify_prompt.find("Safety review:\nSAFE: no rule"), std::string::npos);
  EXPECT_EQ(trace.label, "report_lost_card");  // the intent, not the safety model's label
  EXPECT_EQ(trace.model, "medium-llm");
}

TEST(SupportExample, TransferUsesTheSmallModelAndTheSafetyRuleCatchesACardNumber) {
  auto h = support("transfer");
  h->fake("small-llm").respond = [](const std::string& prompt) -> std::string {
    if (prompt.rfind("Extract the entities", 0) == 0) return R"({"amount": 2000})";
    if (prompt.rfind("You are the support assistant", 0) == 0)
      return "Sure, your card 4111 1111 1111 1111 can send $2,000.";
    return "rewritten without the card number";
  };
  core::Trace trace;
  auto r = h->run("support", user_request("can I transfer 2000 dollars to my landlord?"), trace);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(h->log().models(), (std::vector<std::string>{"intent-local", "small-llm", "small-llm",
                                                         "small-llm", "medium-llm"}));
  const auto& calls = h->log().calls;
  EXPECT_NE(calls[2].prompt.find("Entities: {\"amount\": 2000}"), std::string::npos);
  EXPECT_NE(calls[2].prompt.find("[1] transfer-limits.md"), std::string::npos) << calls[2].prompt;
  EXPECT_NE(calls[4].prompt.find("Safety review:\nrewritten without the card number"),
            std::string::npos);
  EXPECT_EQ(r->content, "FINAL from medium-llm");
  // The draft failed its safety rule and the safety step branched on that verdict; the draft
  // step does not flag (flag_on_fail: false), and the entities were valid JSON.
  EXPECT_NE(span_detail(trace, "support.draft").find("checks failed (regex/1: "),
            std::string::npos)
      << span_detail(trace, "support.draft");
  EXPECT_NE(span_detail(trace, "support.safety").find("(branch on draft verdict = 'fail')"),
            std::string::npos)
      << span_detail(trace, "support.safety");
  EXPECT_NE(span_detail(trace, "support.entities").find("checks passed"), std::string::npos);
  EXPECT_FALSE(has_flag(trace, core::ReviewFlag::kStepChecksFailed));
}

TEST(SupportExample, ACleanDraftSkipsTheRewriteAndBadEntitiesOrARefusalAreFlagged) {
  auto h = support("transfer");
  h->fake("small-llm").respond = [](const std::string& prompt) -> std::string {
    if (prompt.rfind("Extract the entities", 0) == 0) return "amount is 2000";  // not JSON
    return "You can send up to $5,000 a day.";
  };
  h->fake("medium-llm").respond = [](const std::string&) -> std::string {
    return "I'm sorry, but I can't help with that.";
  };
  core::Trace trace;
  auto r = h->run("support", user_request("can I transfer 2000 dollars to my landlord?"), trace);
  ASSERT_TRUE(r.ok()) << r.error().message;
  // No rewrite: the clean draft's safety step is the local model.
  EXPECT_EQ(h->log().models(), (std::vector<std::string>{"intent-local", "small-llm", "small-llm",
                                                         "safety-local", "medium-llm"}));
  EXPECT_NE(span_detail(trace, "support.entities").find("checks failed (json/1: "),
            std::string::npos)
      << span_detail(trace, "support.entities");
  EXPECT_NE(span_detail(trace, "support.verify").find("checks failed (refusal/1: "),
            std::string::npos)
      << span_detail(trace, "support.verify");
  EXPECT_TRUE(has_flag(trace, core::ReviewFlag::kStepChecksFailed));
  EXPECT_EQ(std::count(trace.flags.begin(), trace.flags.end(), core::ReviewFlag::kStepChecksFailed), 1);
  // The answer is still the final step's, attributed to the model that wrote it.
  EXPECT_EQ(r->content, "I'm sorry, but I can't help with that.");
  EXPECT_EQ(trace.model, "medium-llm");
}

}  // namespace
}  // namespace triage::routes

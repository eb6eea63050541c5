// The rules that turn labels, feedback and shadow runs into router training pairs
// (insights/store_pairs.h, docs/loop.md "From labels to pairs"): one test per rule.
#include "insights/store_pairs.h"
#include "core/trace.h"

#include <gtest/gtest.h>

namespace triage::insights {
namespace {

const PairRules kRules{{"small", "medium", "large"}, "small", "large"};

PairEvidence ev(std::string id, std::string tier, bool good, std::string sufficient = {}) {
  PairEvidence e;
  e.request_id = std::move(id);
  e.answered_tier = std::move(tier);
  e.good = good;
  e.sufficient_tier = std::move(sufficient);
  e.prompt = "prompt of " + e.request_id;
  e.category = "cat";
  return e;
}

// The single pair built from `evidence`, failing the test when there is not exactly one.
RouterPair only_pair(const std::vector<PairEvidence>& evidence,
                     const std::vector<ShadowRun>& shadows = {}) {
  const PairBuild b = build_router_pairs(evidence, shadows, kRules);
  EXPECT_EQ(b.pairs.size(), 1u);
  return b.pairs.empty() ? RouterPair{} : b.pairs.front();
}

std::string only_skip(const std::vector<PairEvidence>& evidence,
                      const std::vector<ShadowRun>& shadows = {}) {
  const PairBuild b = build_router_pairs(evidence, shadows, kRules);
  EXPECT_TRUE(b.pairs.empty());
  EXPECT_EQ(b.skipped.size(), 1u);
  return b.skipped.empty() ? "" : b.skipped.begin()->first;
}

TEST(StorePairs, SufficientTierGivesBothGrades) {
  RouterPair p = only_pair({ev("a", "large", true, "medium")});
  EXPECT_EQ(p.rule, "sufficient_tier");
  EXPECT_EQ(p.weak_correct, 0);  // medium is above the weak tier
  EXPECT_EQ(p.strong_correct, 1);
  p = only_pair({ev("b", "small", false, "small")});
  EXPECT_EQ(p.weak_correct, 1);
  EXPECT_EQ(p.strong_correct, 1);
  EXPECT_EQ(p.id, "b");
  EXPECT_EQ(p.prompt, "prompt of b");
  EXPECT_EQ(p.category, "cat");
}

TEST(StorePairs, GoodOnTheWeakTierMeansBothGood) {
  const RouterPair p = only_pair({ev("a", "small", true)});
  EXPECT_EQ(p.rule, "good_on_weak");
  EXPECT_EQ(p.weak_correct, 1);
  EXPECT_EQ(p.strong_correct, 1);
}

TEST(StorePairs, BadOnTheWeakTierLeavesTheStrongGradeUnknown) {
  EXPECT_EQ(only_skip({ev("a", "small", false)}), "strong_unknown");
}

TEST(StorePairs, BadOnTheStrongTierMeansBothBad) {
  const RouterPair p = only_pair({ev("a", "large", false)});
  EXPECT_EQ(p.rule, "bad_on_strong");
  EXPECT_EQ(p.weak_correct, 0);
  EXPECT_EQ(p.strong_correct, 0);
}

// A label on the strong model's answer says nothing about the weak one by itself.
TEST(StorePairs, GoodOnTheStrongTierAloneSaysNothingAboutTheWeakTier) {
  EXPECT_EQ(only_skip({ev("a", "large", true)}), "weak_unknown");
  // A shadow run that differs from the primary and was not labelled does not help either.
  EXPECT_EQ(only_skip({ev("a", "large", true)}, {{"a-s0", "a", "small", false}}), "weak_unknown");
  // Nor one by a tier above the weak one.
  EXPECT_EQ(only_skip({ev("a", "large", true)}, {{"a-s0", "a", "medium", true}}), "weak_unknown");
}

TEST(StorePairs, LabelledWeakShadowGivesTheWeakGrade) {
  const RouterPair p =
      only_pair({ev("a", "large", true), ev("a-s0", "small", false)}, {{"a-s0", "a", "small", true}});
  EXPECT_EQ(p.rule, "weak_shadow_labelled");  // the label beats the agreement
  EXPECT_EQ(p.id, "a");
  EXPECT_EQ(p.weak_correct, 0);
  EXPECT_EQ(p.strong_correct, 1);
  // It also overrides the monotone rule for a bad strong answer.
  const RouterPair q =
      only_pair({ev("b", "large", false), ev("b-s1", "small", true)}, {{"b-s1", "b", "small", {}}});
  EXPECT_EQ(q.rule, "weak_shadow_labelled");
  EXPECT_EQ(q.weak_correct, 1);
  EXPECT_EQ(q.strong_correct, 0);
}

TEST(StorePairs, AgreeingWeakShadowSharesThePrimaryVerdict) {
  RouterPair p = only_pair({ev("a", "large", true)}, {{"a-s0", "a", "small", true}});
  EXPECT_EQ(p.rule, "weak_shadow_agreed");
  EXPECT_EQ(p.weak_correct, 1);
  EXPECT_EQ(p.strong_correct, 1);
}

TEST(StorePairs, LabelledShadowWithoutParentEvidenceStandsForItsParent) {
  const RouterPair p = only_pair({ev("a-s0", "small", true)}, {{"a-s0", "a", "small", true}});
  EXPECT_EQ(p.id, "a");
  EXPECT_EQ(p.rule, "good_on_weak");
}

TEST(StorePairs, SkipsWhatCannotBeUsed) {
  PairEvidence no_payload = ev("a", "small", true);
  no_payload.prompt.reset();
  EXPECT_EQ(only_skip({no_payload}), "no_payload");
  EXPECT_EQ(only_skip({ev("b", "", true)}), "no_answer");
  EXPECT_EQ(only_skip({ev("c", "large", true, "huge")}), "unknown_tier");
  const PairBuild b = build_router_pairs({ev("x", "small", true), ev("y", "large", true)}, {}, kRules);
  EXPECT_EQ(b.evidence, 2);
  EXPECT_EQ(b.rules.at("good_on_weak"), 1);
  EXPECT_EQ(b.skipped.at("weak_unknown"), 1);
}

TEST(StorePairs, RefusesATierOrderWithoutTheWeakBeforeTheStrong) {
  EXPECT_THROW(build_router_pairs({}, {}, {{"small", "large"}, "large", "small"}),
               std::invalid_argument);
  EXPECT_THROW(build_router_pairs({}, {}, {{"small", "large"}, "small", "xl"}),
               std::invalid_argument);
}

TEST(StorePairs, ShadowParentIds) {
  EXPECT_EQ(triage::core::shadow_parent_id("req_abc-s0"), "req_abc");
  EXPECT_EQ(triage::core::shadow_parent_id("req_a-sb-s12"), "req_a-sb");
  EXPECT_FALSE(triage::core::shadow_parent_id("req_abc").has_value());
  EXPECT_FALSE(triage::core::shadow_parent_id("req_abc-s").has_value());
  EXPECT_FALSE(triage::core::shadow_parent_id("req_abc-sx").has_value());
  EXPECT_FALSE(triage::core::shadow_parent_id("-s1").has_value());
}

}  // namespace
}  // namespace triage::insights

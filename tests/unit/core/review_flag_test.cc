// The review flags' wire names are a stored, exported contract: this pins every one of them.
#include "core/review_flag.h"

#include <gtest/gtest.h>

#include <set>

namespace triage::core {
namespace {

TEST(ReviewFlag, WireNamesAreStable) {
  const std::vector<std::pair<ReviewFlag, std::string_view>> expected = {
      {ReviewFlag::kFlagBand, "flag_band"},
      {ReviewFlag::kEscalated, "escalated"},
      {ReviewFlag::kCascaded, "cascaded"},
      {ReviewFlag::kFinalChecksFailed, "final_checks_failed"},
      {ReviewFlag::kVerificationFailed, "verification_failed"},
      {ReviewFlag::kStepChecksFailed, "step_checks_failed"},
      {ReviewFlag::kLowConfidence, "low_confidence"},
      {ReviewFlag::kShadow, "shadow"},
      {ReviewFlag::kEnsembleNoVote, "ensemble_no_vote"},
      {ReviewFlag::kJudgeFailed, "judge_failed"},
      {ReviewFlag::kJudgeUnparsed, "judge_unparsed"},
      {ReviewFlag::kFuseFailed, "fuse_failed"},
      {ReviewFlag::kSampleLarge, "sample_large"},
      {ReviewFlag::kNegativeFeedback, "negative_feedback"},
      {ReviewFlag::kManual, "manual"},
  };
  ASSERT_EQ(all_flags().size(), expected.size());
  for (const auto& [flag, name] : expected) {
    EXPECT_EQ(flag_name(flag), name);
    EXPECT_EQ(parse_flag(name), flag) << name;
  }
  EXPECT_EQ(parse_flag("Flag_Band"), std::nullopt);  // exact names only
  EXPECT_EQ(parse_flag(""), std::nullopt);
}

TEST(ReviewFlag, ReviewRulesAreTheTraceFlagsReviewFlagsMayName) {
  EXPECT_EQ(review_rule_flags(),
            (std::vector<ReviewFlag>{ReviewFlag::kFlagBand, ReviewFlag::kEscalated,
                                     ReviewFlag::kCascaded, ReviewFlag::kFinalChecksFailed,
                                     ReviewFlag::kVerificationFailed,
                                     ReviewFlag::kStepChecksFailed}));
  EXPECT_EQ(flag_kind(ReviewFlag::kLowConfidence), FlagKind::kTraceOnly);
  EXPECT_EQ(flag_kind(ReviewFlag::kShadow), FlagKind::kTraceOnly);
  EXPECT_EQ(flag_kind(ReviewFlag::kSampleLarge), FlagKind::kQueueReason);
  EXPECT_EQ(flag_kind(ReviewFlag::kNegativeFeedback), FlagKind::kQueueReason);
  EXPECT_EQ(flag_kind(ReviewFlag::kManual), FlagKind::kQueueReason);
}

TEST(ReviewFlag, AddOnceKeepsFirstSetOrder) {
  std::vector<ReviewFlag> flags;
  add_flag_once(flags, ReviewFlag::kCascaded);
  add_flag_once(flags, ReviewFlag::kFlagBand);
  add_flag_once(flags, ReviewFlag::kCascaded);
  EXPECT_EQ(flags, (std::vector<ReviewFlag>{ReviewFlag::kCascaded, ReviewFlag::kFlagBand}));
  EXPECT_TRUE(has_flag(flags, ReviewFlag::kFlagBand));
  EXPECT_FALSE(has_flag(flags, ReviewFlag::kEscalated));
}

}  // namespace
}  // namespace triage::core

#include "core/review_flag.h"

#include <algorithm>
#include <array>

namespace triage::core {
namespace {

struct FlagInfo {
  ReviewFlag flag;
  std::string_view name;
  FlagKind kind;
};

// In declaration order: kFlags[static_cast<size_t>(f)].flag == f (checked below).
constexpr std::array kFlags = {
    FlagInfo{ReviewFlag::kFlagBand, "flag_band", FlagKind::kReviewRule},
    FlagInfo{ReviewFlag::kEscalated, "escalated", FlagKind::kReviewRule},
    FlagInfo{ReviewFlag::kCascaded, "cascaded", FlagKind::kReviewRule},
    FlagInfo{ReviewFlag::kFinalChecksFailed, "final_checks_failed", FlagKind::kReviewRule},
    FlagInfo{ReviewFlag::kVerificationFailed, "verification_failed", FlagKind::kReviewRule},
    FlagInfo{ReviewFlag::kStepChecksFailed, "step_checks_failed", FlagKind::kReviewRule},
    FlagInfo{ReviewFlag::kLowConfidence, "low_confidence", FlagKind::kTraceOnly},
    FlagInfo{ReviewFlag::kShadow, "shadow", FlagKind::kTraceOnly},
    FlagInfo{ReviewFlag::kEnsembleNoVote, "ensemble_no_vote", FlagKind::kTraceOnly},
    FlagInfo{ReviewFlag::kJudgeFailed, "judge_failed", FlagKind::kTraceOnly},
    FlagInfo{ReviewFlag::kJudgeUnparsed, "judge_unparsed", FlagKind::kTraceOnly},
    FlagInfo{ReviewFlag::kFuseFailed, "fuse_failed", FlagKind::kTraceOnly},
    FlagInfo{ReviewFlag::kSampleLarge, "sample_large", FlagKind::kQueueReason},
    FlagInfo{ReviewFlag::kNegativeFeedback, "negative_feedback", FlagKind::kQueueReason},
    FlagInfo{ReviewFlag::kManual, "manual", FlagKind::kQueueReason},
};

constexpr bool in_declaration_order() {
  for (size_t i = 0; i < kFlags.size(); ++i)
    if (static_cast<size_t>(kFlags[i].flag) != i) return false;
  return kFlags.back().flag == ReviewFlag::kManual;  // the last enumerator: none is missing
}
static_assert(in_declaration_order(), "kFlags must list every ReviewFlag in declaration order");

const FlagInfo& info(ReviewFlag f) { return kFlags[static_cast<size_t>(f)]; }

std::vector<ReviewFlag> flags_where(bool (*keep)(const FlagInfo&)) {
  std::vector<ReviewFlag> out;
  for (const FlagInfo& i : kFlags)
    if (keep(i)) out.push_back(i.flag);
  return out;
}

}  // namespace

std::string_view flag_name(ReviewFlag f) { return info(f).name; }

FlagKind flag_kind(ReviewFlag f) { return info(f).kind; }

std::optional<ReviewFlag> parse_flag(std::string_view name) {
  for (const FlagInfo& i : kFlags)
    if (i.name == name) return i.flag;
  return std::nullopt;
}

const std::vector<ReviewFlag>& all_flags() {
  static const std::vector<ReviewFlag> all = flags_where([](const FlagInfo&) { return true; });
  return all;
}

const std::vector<ReviewFlag>& review_rule_flags() {
  static const std::vector<ReviewFlag> rules =
      flags_where([](const FlagInfo& i) { return i.kind == FlagKind::kReviewRule; });
  return rules;
}

bool has_flag(const std::vector<ReviewFlag>& flags, ReviewFlag f) {
  return std::find(flags.begin(), flags.end(), f) != flags.end();
}

void add_flag_once(std::vector<ReviewFlag>& flags, ReviewFlag f) {
  if (!has_flag(flags, f)) flags.push_back(f);
}

}  // namespace triage::core

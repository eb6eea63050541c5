#pragma once
// Review flags: why a finished request may deserve a human's look. Route kinds and checks set
// them on Trace::flags; the review queue records them with a queued request, besides reasons
// of its own (sample_large, negative_feedback, manual); metrics count them; config's
// review.flags names the ones that enqueue a request. This is the one list, with the wire
// names every one of those uses. The names are stable: stored rows, metric labels, OTLP
// attributes and configs hold them, so never rename one (add a new flag instead).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace triage::core {

enum class ReviewFlag : uint8_t {
  // Trace flags that review.flags may name (the default set of review rules).
  kFlagBand,            // "flag_band": classify, confidence in the review band
  kEscalated,           // "escalated": classify, low confidence, one tier up
  kCascaded,            // "cascaded": cascade, a later step answered
  kFinalChecksFailed,   // "final_checks_failed": cascade, the last step's answer failed checks
  kVerificationFailed,  // "verification_failed": verifier check said no
  kStepChecksFailed,    // "step_checks_failed": pipeline, a step's checks failed
  // Trace flags that are not review rules.
  kLowConfidence,   // "low_confidence": classify, escalate band with no tier above
  kShadow,          // "shadow": the derived trace of a mirrored (shadow) run
  kEnsembleNoVote,  // "ensemble_no_vote": vote, no child answered with a usable answer
  kJudgeFailed,     // "judge_failed": judge-picks-best, the judge call failed
  kJudgeUnparsed,   // "judge_unparsed": judge-picks-best, the judge's answer named no child
  kFuseFailed,      // "fuse_failed": fuse, the fusing call failed
  // Reasons the review queue records that are not trace flags.
  kSampleLarge,       // "sample_large": sampled top-tier answer (review.sample_large)
  kNegativeFeedback,  // "negative_feedback": POST /v1/feedback with a low score
  kManual,            // "manual": labeled by an operator without another reason
};

// What a flag is: who sets it and whether review.flags may name it.
enum class FlagKind : uint8_t {
  kReviewRule,   // set on traces; review.flags may name it
  kTraceOnly,    // set on traces; informational (counted, stored), not a review rule
  kQueueReason,  // recorded by the review queue only, never on a trace
};

// The wire name ("flag_band"). Every enumerator has one.
std::string_view flag_name(ReviewFlag f);
FlagKind flag_kind(ReviewFlag f);
// The flag with this wire name, if any (exact, case-sensitive).
std::optional<ReviewFlag> parse_flag(std::string_view name);
// Every flag, in declaration order.
const std::vector<ReviewFlag>& all_flags();
// The flags review.flags may name, in declaration order: also its default.
const std::vector<ReviewFlag>& review_rule_flags();

// Trace::flags keeps the order flags were set in (the store writes that order). Route kinds
// append theirs each time they decide (a cascade of two classify steps may flag twice);
// checks and pipelines add theirs once.
bool has_flag(const std::vector<ReviewFlag>& flags, ReviewFlag f);
void add_flag_once(std::vector<ReviewFlag>& flags, ReviewFlag f);  // no-op when already there

}  // namespace triage::core

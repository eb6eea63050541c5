#include "telemetry/review_sink.h"

#include <algorithm>
#include <utility>

namespace triage::telemetry {

ReviewRules::ReviewRules(config::ReviewConfig rules, std::string top_tier)
    : rules_(std::move(rules)), top_tier_(std::move(top_tier)) {}

ReviewRules ReviewRules::from_config(const config::Config& cfg) {
  return ReviewRules(cfg.review, cfg.tiers.empty() ? std::string() : cfg.tiers.back());
}

bool ReviewRules::sampled(std::string_view request_id, double share) {
  if (share <= 0.0) return false;
  if (share >= 1.0) return true;
  uint64_t h = 14695981039346656037ull;  // FNV-1a-64
  for (unsigned char c : request_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // Top 53 bits -> [0, 1): uniform enough for a sampling share, exact in a double.
  const double u = static_cast<double>(h >> 11) / static_cast<double>(1ull << 53);
  return u < share;
}

std::vector<core::ReviewFlag> ReviewRules::decide(const core::Trace& trace) const {
  std::vector<core::ReviewFlag> reasons;
  for (const core::ReviewFlag flag : rules_.flags) {
    if (core::has_flag(trace.flags, flag)) reasons.push_back(flag);
  }
  const bool succeeded = trace.http_status < 400 && trace.error_code.empty();
  if (succeeded && !top_tier_.empty() && trace.tier == top_tier_ &&
      sampled(trace.request_id, rules_.sample_large)) {
    reasons.push_back(core::ReviewFlag::kSampleLarge);
  }
  return reasons;
}

void ReviewSink::consume(const core::TracePtr& trace) {
  if (!trace || trace->request_id.empty()) return;
  std::vector<core::ReviewFlag> reasons = rules_.decide(*trace);
  if (reasons.empty()) return;
  store_.enqueue_review(ReviewEntry{trace->request_id, trace->time_ms, std::move(reasons)});
}

}  // namespace triage::telemetry

#pragma once
// The review queue's intake: which finished requests a human should look at, and why
// (docs/review.md). ReviewRules is the pure decision; ReviewSink applies it to every finished
// trace and queues the chosen ones in the request store, whose writer thread writes them.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/trace.h"
#include "telemetry/request_store.h"

namespace triage::telemetry {

// Built once from config; decide() is a pure function of the trace (thread-safe, no I/O, no
// clock, no randomness), so `triage eval` and tests reproduce every decision exactly.
class ReviewRules {
 public:
  // `top_tier` is the most expensive tier (config tiers.back()).
  ReviewRules(config::ReviewConfig rules, std::string top_tier);
  static ReviewRules from_config(const config::Config& cfg);

  // Reasons, in a fixed order: the configured flags the trace carries (in config order), then
  // kSampleLarge. Empty: the request does not enter the queue. Failed requests (status >=
  // 400) are never sampled, but their flags still count.
  std::vector<core::ReviewFlag> decide(const core::Trace& trace) const;

  // The deterministic sample: FNV-1a-64 of the request id, mapped to [0, 1), below `share`.
  // The same id is in or out on every run and every replica.
  static bool sampled(std::string_view request_id, double share);

  const config::ReviewConfig& config() const { return rules_; }

 private:
  config::ReviewConfig rules_;
  std::string top_tier_;
};

// A TraceSink for the gateway's sink list. consume() runs the rules on the caller's thread
// (a few string compares and one hash: microseconds, no locks beyond the store's queue push)
// and hands a chosen request to RequestStore::enqueue_review(), which never blocks. The store
// must outlive the sink.
class ReviewSink final : public core::TraceSink {
 public:
  ReviewSink(ReviewRules rules, RequestStore& store) : rules_(std::move(rules)), store_(store) {}
  void consume(const core::TracePtr& trace) override;
  const ReviewRules& rules() const { return rules_; }

 private:
  ReviewRules rules_;
  RequestStore& store_;
};

}  // namespace triage::telemetry

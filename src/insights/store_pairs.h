#pragma once
// Router training pairs from reviewed traffic: what `triage train router --from-store` trains
// on (docs/loop.md "From labels to pairs"). For each prompt with human evidence (the latest
// reviewer label, or, without a label, the latest user feedback) one RouteLLM-format row:
// whether the weak tier's answer was good enough (weak_correct) and the strong tier's
// (strong_correct).
//
// The rules, in order, for a request that tier A answered (tier positions cheapest first;
// W = the weak tier, S = the strong tier):
//  1. The label names a sufficient tier T: weak = T <= W, strong = T <= S ("sufficient_tier").
//  2. A > W (the weak tier did not answer): a label says nothing about the weak tier unless a
//     shadow candidate (decide_only false, routes/shadow_route.h) answered the same prompt
//     with a tier <= W and that run was labelled ("weak_shadow_labelled": weak = its verdict),
//     or it agreed with the primary ("weak_shadow_agreed": weak = the primary's verdict).
//     strong = the verdict when A >= S; else 1 when the verdict is good, unknown otherwise.
//  3. Otherwise insights::derive_pair_grades (the `triage export labels` rules, docs/review.md):
//     good on A <= W gives 1/1 ("good_on_weak"); bad on A >= S gives 0/0 ("bad_on_strong":
//     a smaller tier fails what a larger one failed). Every other case is skipped with its
//     reason: "weak_unknown", "strong_unknown", "no_answer", "no_payload", "unknown_tier".
// A labelled shadow run whose parent has no evidence of its own stands for its parent.
// Feedback counts as a verdict: score >= 0.5 good, below bad.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace triage::insights {

// One request's latest human evidence.
struct PairEvidence {
  std::string request_id;
  std::string route;
  int64_t ts_ms = 0;
  std::string category;
  std::string answered_tier;          // empty: no answer
  std::optional<std::string> prompt;  // the last user text; nullopt: the payload was not kept
  bool good = false;                  // verdict correct, or feedback score >= 0.5
  std::string sufficient_tier;        // labels only; empty: not given
};

// A shadow candidate's derived trace ("<parent id>-s<k>", flag shadow).
struct ShadowRun {
  std::string request_id;
  std::string parent_id;
  std::string tier;            // the tier that answered; empty when it failed
  std::optional<bool> agrees;  // core::Span::agrees
};

struct PairRules {
  std::vector<std::string> tiers;  // cheapest first (config `tiers`)
  std::string weak_tier, strong_tier;
};

struct RouterPair {
  std::string id;  // the primary request's id (the split key)
  std::string prompt, category;
  int weak_correct = 0, strong_correct = 0;
  std::string rule;
};

struct PairBuild {
  std::vector<RouterPair> pairs;
  int64_t evidence = 0;                    // labels and feedback considered
  std::map<std::string, int64_t> rules;    // pairs per rule
  std::map<std::string, int64_t> skipped;  // evidence without a pair, per reason
};

// Throws std::invalid_argument when the weak or strong tier is not in the order, weak first.
PairBuild build_router_pairs(const std::vector<PairEvidence>& evidence,
                             const std::vector<ShadowRun>& shadows, const PairRules& rules);


struct StorePairsOptions {
  std::string store_path;  // SQLite request store (read-only)
  std::string route;       // empty: every route
  std::optional<int64_t> since_ms;
  PairRules rules;
};

// Reads labels, feedback and shadow runs from the store and builds the pairs. Throws
// std::runtime_error naming the store.
PairBuild read_router_pairs(const StorePairsOptions& o);

}  // namespace triage::insights

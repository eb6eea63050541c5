#pragma once
// What the offline commands read from the request store (`triage report`, `analyze`, `roi
// --from-store`, `export`): typed queries and rows, no backend types. The SQLite
// implementation is telemetry/sqlite_reader.h; open one with telemetry/store_reader.h.
//
// Contract: blocking, for offline use; read-only (safe while a gateway writes to the store);
// errors are values whose message names the store. Scans stream rows to a callback, so a
// million-row store is never held in memory; a callback returning an error stops the scan
// and that error is returned.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace triage::telemetry {

// One row of `requests` with its payload (docs/store.md). Text columns that are NULL in the
// store are empty here.
struct StoredRequest {
  std::string request_id;
  int64_t ts_ms = 0;
  std::string route;  // empty for a direct model call
  std::string model;  // the model whose answer was returned; empty on an error before a call
  std::string tier;
  int status = 200;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  bool tokens_estimated = false;
  double cost_usd = 0.0;
  int64_t total_us = 0;
  bool synthesized = false;
  std::string flags_json = "[]";             // the `flags` column (JSON array of strings)
  std::string spans_json = "[]";             // the `spans` column (telemetry/trace_json.h)
  std::optional<std::string> messages_json;  // table `prompts` (store.keep_payloads), if kept
};

// One request as `triage analyze` sees it (insights/analyze_input.h): the slim columns plus
// what its spans say about routing.
struct TrafficRow {
  std::string category;  // empty: none
  // The tier that answered; for a request without an answer, the last model call's tier;
  // empty when neither.
  std::string tier;
  std::string model;  // empty when no model answered
  int64_t tokens_in = 0, tokens_out = 0;
  double cost_usd = 0.0;
  int64_t total_us = 0;
  int status = 200;
  int64_t ts_ms = 0;
  bool routed = false;          // the request has a route span (a routing decision)
  std::string first_call_tier;  // the first model call's tier: what the router picked first
  // The model a router deciding in shadow would have picked: the first route span's typed
  // "shadow_decision" (core::Span::shadow_decision), or, in stores written before that key,
  // the MODEL of the first route span whose detail is "shadow decision: MODEL ..."; empty
  // when none.
  std::string shadow_target;
  // The router versions that decided (core::Span::router_version): the serving router's (the
  // first route span with the key and no shadow_decision), and a router deciding in shadow's
  // (the first route span with both keys); empty when none.
  std::string router_version;
  std::string shadow_router_version;
};

// Requests, cost and tokens per answering tier ("(none)": no tier), and the time span.
struct TierTotals {
  std::string tier;
  int64_t requests = 0;
  double cost_usd = 0.0;
  int64_t tokens_in = 0, tokens_out = 0;
  int64_t first_ts_ms = 0, last_ts_ms = 0;
};

// The latest label of a request, with the request's answer (for `triage export`).
struct LabeledRequest {
  std::string request_id;
  std::string verdict, sufficient_tier, corrected_answer;
  std::string answered_tier, category;
  std::optional<std::string> messages_json;  // nullopt: the payload was not kept
  std::string response;
  std::string route;  // the route that served the request; empty for a direct model call
  int64_t ts_ms = 0;  // when the request arrived
};

// The latest feedback of a request that has no label.
struct FeedbackOnlyRequest {
  std::string request_id;
  double score = 0.0;
  std::string corrected_answer;
  std::optional<std::string> messages_json;  // nullopt: the payload was not kept
  std::string response;
  std::string answered_tier, category, route;  // of the request, as in LabeledRequest
  int64_t ts_ms = 0;
};

class TrafficReader {
 public:
  virtual ~TrafficReader() = default;

  // Every request, ordered by (ts_ms, request_id).
  virtual Result<void> scan_requests(
      const std::function<Result<void>(StoredRequest&&)>& on_row) = 0;
  // Every request, in storage order.
  virtual Result<void> scan_traffic(const std::function<Result<void>(TrafficRow&&)>& on_row) = 0;
  virtual Result<std::vector<TierTotals>> tier_totals() = 0;
  // `category` empty: every category. Ordered by (the request's ts_ms, request_id).
  virtual Result<std::vector<LabeledRequest>> latest_labels(const std::string& category) = 0;
  virtual Result<std::vector<FeedbackOnlyRequest>> latest_unlabeled_feedback(
      const std::string& category) = 0;
};

}  // namespace triage::telemetry

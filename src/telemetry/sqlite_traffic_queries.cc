// SqliteStoreReader: the offline commands' scans (telemetry/traffic_reader.h).
#include <utility>

#include "telemetry/sqlite_reader.h"
#include "telemetry/trace_json.h"
#include "telemetry/store_rows.h"

namespace triage::telemetry {
namespace {

using sqlite::Statement;

// A scan's error: "<path>: <what>: <SQLite's message>", for a command line.
Error scan_error(const std::string& path, const std::string& what, sqlite::Connection& db) {
  return make_error(ErrorCode::kInvalidRequest, path + ": " + what + ": " + db.last_error());
}

// The latest label per request, joined with the request and its payload (LEFT: a missing
// payload is reported, not hidden). labels_request(request_id, id) serves the MAX per request.
constexpr const char* kLatestLabels =
    "SELECT l.request_id, l.verdict, l.sufficient_tier, l.corrected_answer, r.tier, r.category, "
    "p.messages, p.response, COALESCE(r.route, ''), r.ts_ms "
    "FROM labels l "
    "JOIN (SELECT request_id, MAX(id) AS id FROM labels GROUP BY request_id) last ON last.id = "
    "l.id "
    "JOIN requests r ON r.request_id = l.request_id "
    "LEFT JOIN prompts p ON p.request_id = l.request_id "
    "WHERE (?1 IS NULL OR r.category = ?1) ORDER BY r.ts_ms, l.request_id";

// Requests with feedback and no label: the latest feedback each.
constexpr const char* kLatestFeedback =
    "SELECT f.request_id, f.score, f.corrected_answer, p.messages, p.response, "
    "COALESCE(r.tier, ''), COALESCE(r.category, ''), COALESCE(r.route, ''), r.ts_ms "
    "FROM feedback f "
    "JOIN (SELECT request_id, MAX(id) AS id FROM feedback GROUP BY request_id) last ON last.id = "
    "f.id "
    "JOIN requests r ON r.request_id = f.request_id "
    "LEFT JOIN prompts p ON p.request_id = f.request_id "
    "WHERE (?1 IS NULL OR r.category = ?1) "
    "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.request_id = f.request_id) "
    "ORDER BY r.ts_ms, f.request_id";

// What the review tables need; an older store is told how to migrate.
constexpr const char* kNeedsReviewTables =
    " (a request store of schema version 2 is needed; open it once with this build's `triage "
    "serve` to migrate it)";

}  // namespace

Result<void> SqliteStoreReader::scan_requests(
    const std::function<Result<void>(StoredRequest&&)>& on_row) {
  std::lock_guard lk(read_mu_);
  // Prompts (store.keep_payloads) come from `prompts`; a version-1 store has no such table.
  const bool has_prompts = read_.has_table("prompts");
  Statement s(read_,
              std::string("SELECT r.request_id, r.ts_ms, COALESCE(r.route,''), "
                          "COALESCE(r.model,''), COALESCE(r.tier,''), r.status, r.tokens_in, "
                          "r.tokens_out, r.tokens_estimated, r.cost_usd, r.total_us, "
                          "r.synthesized, r.flags, r.spans, ") +
                  (has_prompts ? "p.messages FROM requests r LEFT JOIN prompts p "
                                 "ON p.request_id = r.request_id "
                               : "NULL FROM requests r ") +
                  "ORDER BY r.ts_ms, r.request_id");
  if (!s.ok()) {
    return make_error(ErrorCode::kInvalidRequest,
                      path_ + " is not a Triage request store: " + read_.last_error());
  }
  Result<void> consumer;  // on_row's first error ends the scan and is returned
  const bool read_all = s.for_each_row([&] {
    consumer = on_row(stored_request_of(s));
    return consumer.ok();
  });
  if (!consumer) return consumer;
  if (!read_all) return scan_error(path_, "cannot read requests", read_);
  return {};
}

Result<void> SqliteStoreReader::scan_traffic(
    const std::function<Result<void>(TrafficRow&&)>& on_row) {
  // The span JSON is parsed here, once per row, by SQLite's JSON functions. The tier of a
  // request without an answer is its last model call's; the first call's is what the router
  // picked before any escalation; a router deciding in shadow leaves a route span whose typed
  // key "shadow_decision" (core::Span::shadow_decision, routes/shadow_route.cc) names the model
  // it would have picked. Legacy path: stores written before that key existed only have the
  // display detail "shadow decision: MODEL (...)", whose first word after the prefix is read
  // when no span of the request has the key. Each subquery parses the spans only when a
  // substring test says the request has what it looks for (keys and that prefix are never
  // escaped inside the JSON text).
  std::lock_guard lk(read_mu_);
  const std::string shadow_key = std::string("\"") + std::string(kShadowDecisionSpanKey) + "\":";
  const std::string shadow_path = "$." + std::string(kShadowDecisionSpanKey);
  Statement s(read_,
              "SELECT COALESCE(category, ''), "
              "COALESCE(tier, (SELECT json_extract(value, '$.tier') FROM json_each(spans) "
              "  WHERE json_extract(value, '$.kind') = 'model_call' ORDER BY key DESC LIMIT 1), "
              "  ''), "
              "COALESCE(model, ''), tokens_in, tokens_out, cost_usd, total_us, status, ts_ms, "
              "instr(spans, '\"kind\":\"route\"') > 0, "
              "COALESCE((SELECT json_extract(value, '$.tier') FROM json_each(spans) "
              "  WHERE json_extract(value, '$.kind') = 'model_call' LIMIT 1), ''), "
              "COALESCE("
              "  CASE WHEN instr(spans, ?1) > 0 THEN (SELECT json_extract(value, ?2) "
              "    FROM json_each(spans) WHERE json_extract(value, '$.kind') = 'route' "
              "    AND json_type(value, ?2) = 'text' LIMIT 1) END, "
              // Legacy path (stores written before the typed key): parse the display detail.
              "  CASE WHEN instr(spans, 'shadow decision: ') > 0 THEN "
              "    (SELECT substr(d, 18, instr(substr(d, 18) || ' ', ' ') - 1) FROM "
              "    (SELECT json_extract(value, '$.detail') AS d FROM json_each(spans) "
              "     WHERE json_extract(value, '$.kind') = 'route' "
              "     AND json_extract(value, '$.detail') LIKE 'shadow decision: %' LIMIT 1)) END, "
              "  ''), "
              // The router versions (core::Span::router_version): serving, then in shadow.
              "COALESCE(CASE WHEN instr(spans, ?3) > 0 THEN (SELECT json_extract(value, ?4) "
              "  FROM json_each(spans) WHERE json_extract(value, '$.kind') = 'route' "
              "  AND json_type(value, ?4) = 'text' AND json_type(value, ?2) IS NULL LIMIT 1) "
              "  END, ''), "
              "COALESCE(CASE WHEN instr(spans, ?3) > 0 THEN (SELECT json_extract(value, ?4) "
              "  FROM json_each(spans) WHERE json_extract(value, '$.kind') = 'route' "
              "  AND json_type(value, ?4) = 'text' AND json_type(value, ?2) = 'text' LIMIT 1) "
              "  END, '') "
              "FROM requests");
  if (!s.ok()) {
    return make_error(ErrorCode::kInvalidRequest,
                      "--store: not a Triage request store: " + read_.last_error());
  }
  const std::string version_key =
      std::string("\"") + std::string(kRouterVersionSpanKey) + "\":";
  const std::string version_path = "$." + std::string(kRouterVersionSpanKey);
  s.bind(1, shadow_key).bind(2, shadow_path).bind(3, version_key).bind(4, version_path);
  Result<void> consumer;  // on_row's first error ends the scan and is returned
  const bool read_all = s.for_each_row([&] {
    consumer = on_row(traffic_row_of(s));
    return consumer.ok();
  });
  if (!consumer) return consumer;
  if (!read_all) {
    return make_error(ErrorCode::kInvalidRequest,
                      "--store: not a Triage request store: " + read_.last_error());
  }
  return {};
}

Result<std::vector<TierTotals>> SqliteStoreReader::tier_totals() {
  std::lock_guard lk(read_mu_);
  Statement s(read_,
              "SELECT COALESCE(tier, '(none)'), COUNT(*), TOTAL(cost_usd), TOTAL(tokens_in), "
              "TOTAL(tokens_out), MIN(ts_ms), MAX(ts_ms) FROM requests GROUP BY 1");
  if (!s.ok()) {
    return make_error(ErrorCode::kInvalidRequest,
                      path_ + " is not a Triage request store: " + read_.last_error());
  }
  std::vector<TierTotals> out;
  const bool read_all = s.for_each_row([&] {
    out.push_back({s.text(0), s.i64(1), s.real(2), static_cast<int64_t>(s.real(3)),
                   static_cast<int64_t>(s.real(4)), s.i64(5), s.i64(6)});
  });
  if (!read_all) return scan_error(path_, "cannot read requests", read_);
  return out;
}

Result<std::vector<LabeledRequest>> SqliteStoreReader::latest_labels(const std::string& category) {
  std::lock_guard lk(read_mu_);
  Statement s(read_, kLatestLabels);
  if (!s.ok()) {
    return make_error(ErrorCode::kInvalidRequest,
                      path_ + ": " + read_.last_error() + kNeedsReviewTables);
  }
  s.bind_or_null(1, category);
  std::vector<LabeledRequest> out;
  const bool read_all = s.for_each_row([&] {
    out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.opt_text(6),
                   s.text(7), s.text(8), s.i64(9)});
  });
  if (!read_all) return scan_error(path_, "cannot read labels", read_);
  return out;
}

Result<std::vector<FeedbackOnlyRequest>> SqliteStoreReader::latest_unlabeled_feedback(
    const std::string& category) {
  std::lock_guard lk(read_mu_);
  Statement s(read_, kLatestFeedback);
  if (!s.ok()) {
    return make_error(ErrorCode::kInvalidRequest,
                      path_ + ": " + read_.last_error() + kNeedsReviewTables);
  }
  s.bind_or_null(1, category);
  std::vector<FeedbackOnlyRequest> out;
  const bool read_all = s.for_each_row([&] {
    out.push_back({s.text(0), s.real(1), s.text(2), s.opt_text(3), s.text(4), s.text(5), s.text(6),
                   s.text(7), s.i64(8)});
  });
  if (!read_all) return scan_error(path_, "cannot read feedback", read_);
  return out;
}

}  // namespace triage::telemetry

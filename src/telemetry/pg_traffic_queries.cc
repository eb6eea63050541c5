// PgStoreReader: the offline commands' scans (telemetry/traffic_reader.h), ported from
// sqlite_traffic_queries.cc (the reasoning is there). Scans stream rows (single-row mode), so
// a million-row store is never held in memory.
#include <utility>

#include "telemetry/pg_reader.h"
#include "telemetry/trace_json.h"
#include "telemetry/store_rows.h"

namespace triage::telemetry {
namespace {

// The latest label per request, joined with the request and its payload.
constexpr const char* kLatestLabels =
    "SELECT l.request_id, l.verdict, l.sufficient_tier, l.corrected_answer, r.tier, r.category, "
    "p.messages, p.response, COALESCE(r.route, ''), r.ts_ms "
    "FROM labels l "
    "JOIN (SELECT request_id, MAX(id) AS id FROM labels GROUP BY request_id) last ON last.id = "
    "l.id "
    "JOIN requests r ON r.request_id = l.request_id "
    "LEFT JOIN prompts p ON p.request_id = l.request_id "
    "WHERE ($1::text IS NULL OR r.category = $1::text) ORDER BY r.ts_ms, l.request_id";

// Requests with feedback and no label: the latest feedback each.
constexpr const char* kLatestFeedback =
    "SELECT f.request_id, f.score, f.corrected_answer, p.messages, p.response, "
    "COALESCE(r.tier, ''), COALESCE(r.category, ''), COALESCE(r.route, ''), r.ts_ms "
    "FROM feedback f "
    "JOIN (SELECT request_id, MAX(id) AS id FROM feedback GROUP BY request_id) last ON last.id = "
    "f.id "
    "JOIN requests r ON r.request_id = f.request_id "
    "LEFT JOIN prompts p ON p.request_id = f.request_id "
    "WHERE ($1::text IS NULL OR r.category = $1::text) "
    "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.request_id = f.request_id) "
    "ORDER BY r.ts_ms, f.request_id";

// The spans of the row, one JSON element per row with its 1-based position `i`.
constexpr const char* kSpans = "json_array_elements(spans::json) WITH ORDINALITY AS x(e, i)";

std::string scan_traffic_sql() {
  const std::string spans = kSpans;
  return "SELECT COALESCE(category, ''), "
         "COALESCE(tier, (SELECT e->>'tier' FROM " +
         spans +
         "  WHERE e->>'kind' = 'model_call' ORDER BY i DESC LIMIT 1), ''), "
         "COALESCE(model, ''), tokens_in, tokens_out, cost_usd, total_us, status, ts_ms, "
         "(strpos(spans, '\"kind\":\"route\"') > 0)::int, "
         "COALESCE((SELECT e->>'tier' FROM " +
         spans +
         "  WHERE e->>'kind' = 'model_call' ORDER BY i LIMIT 1), ''), "
         "COALESCE("
         "  CASE WHEN strpos(spans, $1::text) > 0 THEN (SELECT e->>($2::text) FROM " +
         spans +
         "    WHERE e->>'kind' = 'route' AND json_typeof(e->($2::text)) = 'string' "
         "    ORDER BY i LIMIT 1) END, "
         // Legacy path (stores written before the typed key): parse the display detail.
         "  CASE WHEN strpos(spans, 'shadow decision: ') > 0 THEN "
         "    (SELECT substr(d, 18, strpos(substr(d, 18) || ' ', ' ') - 1) FROM "
         "    (SELECT e->>'detail' AS d FROM " +
         spans +
         "     WHERE e->>'kind' = 'route' AND e->>'detail' LIKE 'shadow decision: %' "
         "     ORDER BY i LIMIT 1) first_detail) END, "
         "  ''), "
         // The router versions: serving, then in shadow.
         "COALESCE(CASE WHEN strpos(spans, $3::text) > 0 THEN (SELECT e->>($4::text) FROM " +
         spans +
         "  WHERE e->>'kind' = 'route' AND json_typeof(e->($4::text)) = 'string' "
         "  AND e->($2::text) IS NULL ORDER BY i LIMIT 1) END, ''), "
         "COALESCE(CASE WHEN strpos(spans, $3::text) > 0 THEN (SELECT e->>($4::text) FROM " +
         spans +
         "  WHERE e->>'kind' = 'route' AND json_typeof(e->($4::text)) = 'string' "
         "  AND json_typeof(e->($2::text)) = 'string' ORDER BY i LIMIT 1) END, '') "
         "FROM requests";
}

}  // namespace

Result<void> PgStoreReader::scan_requests(
    const std::function<Result<void>(StoredRequest&&)>& on_row) {
  std::lock_guard lk(mu_);
  ensure_connected();
  Result<void> consumer;  // on_row's first error ends the scan and is returned
  auto scanned = db_.for_each_row(
      "SELECT r.request_id, r.ts_ms, COALESCE(r.route,''), COALESCE(r.model,''), "
      "COALESCE(r.tier,''), r.status, r.tokens_in, r.tokens_out, r.tokens_estimated, "
      "r.cost_usd, r.total_us, r.synthesized, r.flags, r.spans, p.messages "
      "FROM requests r LEFT JOIN prompts p ON p.request_id = r.request_id "
      "ORDER BY r.ts_ms, r.request_id",
      {}, [&](const pg::Row& s) {
        consumer = on_row(stored_request_of(s));
        return consumer.ok();
      });
  if (!consumer) return consumer;
  if (!scanned) return scan_error("cannot read requests", scanned.error());
  return {};
}

Result<void> PgStoreReader::scan_traffic(const std::function<Result<void>(TrafficRow&&)>& on_row) {
  std::lock_guard lk(mu_);
  ensure_connected();
  // The keys as they appear in the JSON text ("key":), for the substring tests. (Appended, not
  // "\"" + ...: GCC 12 warns falsely on that, -Wrestrict.)
  auto quoted_key = [](std::string_view key) {
    std::string out(1, '"');
    out.append(key).append("\":");
    return out;
  };
  pg::Params p;
  p.add(quoted_key(kShadowDecisionSpanKey)).add(kShadowDecisionSpanKey);
  p.add(quoted_key(kRouterVersionSpanKey)).add(kRouterVersionSpanKey);
  Result<void> consumer;
  auto scanned = db_.for_each_row(scan_traffic_sql(), p, [&](const pg::Row& s) {
    consumer = on_row(traffic_row_of(s));
    return consumer.ok();
  });
  if (!consumer) return consumer;
  if (!scanned) return scan_error("cannot read requests", scanned.error());
  return {};
}

Result<std::vector<TierTotals>> PgStoreReader::tier_totals() {
  std::lock_guard lk(mu_);
  auto s = query(
      "SELECT COALESCE(tier, '(none)'), COUNT(*), COALESCE(SUM(cost_usd), 0), "
      "COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), MIN(ts_ms), MAX(ts_ms) "
      "FROM requests GROUP BY 1 ORDER BY 1");
  if (!s) return scan_error("cannot read requests", s.error());
  std::vector<TierTotals> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back({s->text(i, 0), s->i64(i, 1), s->real(i, 2), s->i64(i, 3), s->i64(i, 4),
                   s->i64(i, 5), s->i64(i, 6)});
  }
  return out;
}

Result<std::vector<LabeledRequest>> PgStoreReader::latest_labels(const std::string& category) {
  std::lock_guard lk(mu_);
  auto s = query(kLatestLabels, pg::Params().add_or_null(category));
  if (!s) return scan_error("cannot read labels", s.error());
  std::vector<LabeledRequest> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back({s->text(i, 0), s->text(i, 1), s->text(i, 2), s->text(i, 3), s->text(i, 4),
                   s->text(i, 5), s->opt_text(i, 6), s->text(i, 7), s->text(i, 8), s->i64(i, 9)});
  }
  return out;
}

Result<std::vector<FeedbackOnlyRequest>> PgStoreReader::latest_unlabeled_feedback(
    const std::string& category) {
  std::lock_guard lk(mu_);
  auto s = query(kLatestFeedback, pg::Params().add_or_null(category));
  if (!s) return scan_error("cannot read feedback", s.error());
  std::vector<FeedbackOnlyRequest> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back({s->text(i, 0), s->real(i, 1), s->text(i, 2), s->opt_text(i, 3), s->text(i, 4),
                   s->text(i, 5), s->text(i, 6), s->text(i, 7), s->i64(i, 8)});
  }
  return out;
}

}  // namespace triage::telemetry

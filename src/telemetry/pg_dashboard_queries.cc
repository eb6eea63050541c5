// PgStoreReader: the dashboard's queries (telemetry/dashboard_reader.h), SqliteStoreReader's
// ported (sqlite_dashboard_queries.cc has the reasoning): additive aggregations read the
// rollups (whole hours, whole minutes, raw rows only at the edges: rollup_source.h), the rest
// reads a bounded ts_ms range of rows. SQLite's TOTAL() is COALESCE(SUM(), 0) here, a boolean
// summed is cast to int, and every grouped answer is ordered like SQLite's (its GROUP BY sorts).
#include <algorithm>
#include <utility>

#include "telemetry/pg_reader.h"
#include "telemetry/rollup_source.h"
#include "telemetry/trace_json.h"
#include "telemetry/store_rows.h"

namespace triage::telemetry {
namespace {

// The rows of `src` for a range: parameters $1..$10 (add_source); a query numbers its own
// from $11.
std::string source_cte(const char* minute_table = "rollup_minute") {
  constexpr const char* kCols =
      "minute, model, tier, route, category, cohort, requests, client_errors, server_errors, "
      "timeouts, cost_usd, tokens_in, tokens_out, upstream_us, total_us";
  return std::string("WITH src(") + kCols + ") AS (SELECT " + kCols +
         " FROM rollup_hour WHERE minute BETWEEN $3::bigint AND $4::bigint UNION ALL SELECT " +
         kCols + " FROM " + minute_table +
         " WHERE minute BETWEEN $5::bigint AND $6::bigint OR minute BETWEEN $7::bigint AND "
         "$8::bigint UNION ALL SELECT ts_ms / 60000, COALESCE(model, ''), COALESCE(tier, ''), "
         "COALESCE(route, ''), COALESCE(category, ''), COALESCE(cohort, ''), 1, "
         "(status BETWEEN 400 AND 499)::int, (status >= 500)::int, "
         "(error_code IS NOT DISTINCT FROM 'upstream_timeout')::int, cost_usd, tokens_in, "
         "tokens_out, upstream_us, total_us FROM requests "
         "WHERE ts_ms BETWEEN $1::bigint AND $9::bigint OR ts_ms BETWEEN $10::bigint AND "
         "$2::bigint) ";
}

pg::Params source_params(const TimeRange& r, RollupLevel level) {
  const SourceBounds b = source_bounds(r, level);
  pg::Params p;
  p.add(r.from_ms).add(r.to_ms).add(b.hour_lo).add(b.hour_hi).add(b.m1_lo).add(b.m1_hi);
  p.add(b.m2_lo).add(b.m2_hi).add(b.raw1_hi).add(b.raw2_lo);
  return p;
}

pg::Params range_params(const TimeRange& r) { return pg::Params().add(r.from_ms).add(r.to_ms); }

}  // namespace

Result<std::optional<TimeRange>> PgStoreReader::data_span(const TimeRange& r) {
  std::lock_guard lk(mu_);
  auto s = query("SELECT MIN(ts_ms), MAX(ts_ms) FROM requests WHERE ts_ms BETWEEN $1 AND $2",
                 range_params(r));
  if (!s) return sql_error("data span", s.error());
  if (s->rows() == 0 || s->is_null(0, 0)) return std::optional<TimeRange>();
  return std::optional<TimeRange>(TimeRange{s->i64(0, 0), s->i64(0, 1)});
}

Result<SummaryRow> PgStoreReader::summary(const TimeRange& r) {
  std::lock_guard lk(mu_);
  auto s = query(source_cte() +
                     "SELECT COALESCE(SUM(requests), 0), "
                     "COALESCE(SUM(client_errors + server_errors), 0), COALESCE(SUM(cost_usd), 0), "
                     "COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), "
                     "(SELECT MIN(ts_ms) FROM requests WHERE ts_ms BETWEEN $1 AND $2), "
                     "(SELECT MAX(ts_ms) FROM requests WHERE ts_ms BETWEEN $1 AND $2) FROM src",
                 source_params(r, RollupLevel::kHour));
  if (!s || s->rows() != 1) return sql_error("summary", s ? Error{} : s.error());
  SummaryRow out;
  out.requests = s->i64(0, 0);
  out.errors = s->i64(0, 1);
  out.cost_usd = s->real(0, 2);
  out.tokens_in = s->i64(0, 3);
  out.tokens_out = s->i64(0, 4);
  out.first_ts_ms = s->i64(0, 5);
  out.last_ts_ms = s->i64(0, 6);
  return out;
}

Result<std::vector<CostCell>> PgStoreReader::cost_cells(const TimeRange& r, int64_t bucket_ms,
                                                        Dimension by) {
  const RollupLevel level = by == Dimension::kKey || by == Dimension::kApi
                                ? RollupLevel::kRaw
                                : level_for_bucket(bucket_ms);
  const std::string key = dimension_key_sql(by);
  std::lock_guard lk(mu_);
  Result<pg::ResultSet> s =
      level == RollupLevel::kRaw
          ? query("SELECT (ts_ms / $3::bigint) * $3::bigint AS b, " + key +
                      " AS k, COUNT(*), COALESCE(SUM(cost_usd), 0) FROM requests "
                      "WHERE ts_ms BETWEEN $1 AND $2 GROUP BY b, k ORDER BY b, k",
                  range_params(r).add(bucket_ms))
          : query(source_cte() + "SELECT (minute * 60000 / $11::bigint) * $11::bigint AS b, " +
                      key +
                      " AS k, COALESCE(SUM(requests), 0), COALESCE(SUM(cost_usd), 0) FROM src "
                      "GROUP BY b, k ORDER BY b, k",
                  source_params(r, level).add(bucket_ms));
  if (!s) return sql_error("cost series", s.error());
  std::vector<CostCell> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back({s->i64(i, 0), s->text(i, 1), s->i64(i, 2), s->real(i, 3)});
  }
  return out;
}

Result<std::vector<std::pair<int64_t, int64_t>>> PgStoreReader::success_counts(const TimeRange& r,
                                                                               int64_t bucket_ms) {
  const RollupLevel level = level_for_bucket(bucket_ms);
  std::lock_guard lk(mu_);
  Result<pg::ResultSet> s =
      level == RollupLevel::kRaw
          ? query(
                "SELECT (ts_ms / $3::bigint) * $3::bigint AS b, "
                "COUNT(*) FILTER (WHERE status < 400) FROM requests "
                "WHERE ts_ms BETWEEN $1 AND $2 GROUP BY b ORDER BY b",
                range_params(r).add(bucket_ms))
          : query(source_cte() +
                      "SELECT (minute * 60000 / $11::bigint) * $11::bigint AS b, "
                      "COALESCE(SUM(requests - client_errors - server_errors), 0) FROM src "
                      "GROUP BY b ORDER BY b",
                  source_params(r, level).add(bucket_ms));
  if (!s) return sql_error("latency counts", s.error());
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int i = 0; i < s->rows(); ++i) out.emplace_back(s->i64(i, 0), s->i64(i, 1));
  return out;
}

Result<std::vector<std::vector<LatencySample>>> PgStoreReader::latency_samples(
    const std::vector<SampleWindow>& windows) {
  std::lock_guard lk(mu_);
  // One requests_ts_ms index range scan with a LIMIT per window, in ts_ms order.
  std::vector<std::vector<LatencySample>> out(windows.size());
  for (size_t w = 0; w < windows.size(); ++w) {
    auto s = query(
        "SELECT total_us, routing_us, queue_us, upstream_ttfb_us, upstream_us, overhead_us "
        "FROM requests WHERE ts_ms BETWEEN $1 AND $2 AND status < 400 "
        "ORDER BY ts_ms, request_id LIMIT $3",
        pg::Params().add(windows[w].from_ms).add(windows[w].to_ms).add(windows[w].limit));
    if (!s) return sql_error("latency series", s.error());
    for (int i = 0; i < s->rows(); ++i) {
      LatencySample v;
      for (int p = 0; p < kLatencyParts; ++p) v[static_cast<size_t>(p)] = s->i64(i, p);
      out[w].push_back(v);
    }
  }
  return out;
}

Result<std::vector<ModelRow>> PgStoreReader::models(const TimeRange& r) {
  std::lock_guard lk(mu_);
  auto s = query(source_cte() +
                     "SELECT COALESCE(NULLIF(model, ''), '(none)') AS m, MAX(NULLIF(tier, '')), "
                     "COALESCE(SUM(requests), 0) AS n, COALESCE(SUM(server_errors), 0), "
                     "COALESCE(SUM(client_errors), 0), COALESCE(SUM(timeouts), 0), "
                     "COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0), "
                     "COALESCE(SUM(cost_usd), 0), COALESCE(SUM(upstream_us), 0), "
                     "SUM(total_us)::float8 / NULLIF(SUM(requests), 0) FROM src "
                     "GROUP BY m ORDER BY n DESC, m",
                 source_params(r, RollupLevel::kHour));
  if (!s) return sql_error("models", s.error());
  std::vector<ModelRow> out;
  for (int i = 0; i < s->rows(); ++i) {
    ModelRow m;
    m.model = s->text(i, 0);
    m.tier = s->text(i, 1);
    m.requests = s->i64(i, 2);
    m.server_errors = s->i64(i, 3);
    m.client_errors = s->i64(i, 4);
    m.timeouts = s->i64(i, 5);
    m.tokens_in = s->i64(i, 6);
    m.tokens_out = s->i64(i, 7);
    m.cost_usd = s->real(i, 8);
    m.upstream_us = s->i64(i, 9);
    m.mean_total_us = s->real(i, 10);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<ModelAvailability>> PgStoreReader::availability(const TimeRange& r) {
  // A minute is available when at least one of its requests did not fail with a 5xx.
  std::lock_guard lk(mu_);
  auto s = query(source_cte("rollup_model_minute") +
                     "SELECT m, COUNT(*), COALESCE(SUM(ok), 0) FROM (SELECT "
                     "COALESCE(NULLIF(model, ''), '(none)') AS m, minute, "
                     "(SUM(requests) > SUM(server_errors))::int AS ok "
                     "FROM src GROUP BY 1, 2) per_minute GROUP BY m ORDER BY m",
                 source_params(r, RollupLevel::kMinute));
  if (!s) return sql_error("availability", s.error());
  std::vector<ModelAvailability> out;
  for (int i = 0; i < s->rows(); ++i) out.push_back({s->text(i, 0), s->i64(i, 1), s->i64(i, 2)});
  return out;
}

Result<CascadeStops> PgStoreReader::cascade_stops(const TimeRange& r, int64_t limit) {
  // The typed record of each cascade's route span, as SQLite's query: a substring test picks
  // the requests that have one; only those have their spans parsed (json, not jsonb: parsed
  // once, in order, without building a binary document).
  std::lock_guard lk(mu_);
  const std::string key = std::string("\"") + std::string(kCascadeSpanKey) + "\":{";
  auto s = query(
      "WITH recent AS (SELECT spans FROM requests WHERE ts_ms BETWEEN $1 AND $2 "
      "  AND strpos(spans, $4) > 0 ORDER BY ts_ms DESC LIMIT $3) "
      "SELECT (SELECT COUNT(*) FROM recent), (e->>'name') COLLATE \"C\" AS cascade, "
      "  (e->'cascade'->>'step')::bigint AS step, MAX(e->'cascade'->>'route'), "
      "  (e->'cascade'->>'outcome') COLLATE \"C\" AS outcome, COUNT(*) "
      "FROM recent, json_array_elements(recent.spans::json) e "
      "WHERE json_typeof(e->'cascade') = 'object' "
      "GROUP BY cascade, step, outcome ORDER BY cascade, step, outcome",
      range_params(r).add(limit).add(key));
  if (!s) return sql_error("funnel", s.error());
  CascadeStops out;
  for (int i = 0; i < s->rows(); ++i) {
    out.requests = s->i64(i, 0);
    const std::optional<core::CascadeOutcome> outcome = parse_cascade_outcome(s->text(i, 4));
    if (!outcome) continue;  // a later build's outcome: not countable here
    out.counts.push_back(
        {s->text(i, 1), static_cast<int>(s->i64(i, 2)), s->text(i, 3), *outcome, s->i64(i, 5)});
  }
  return out;
}

Result<ConfidenceBins> PgStoreReader::confidence_bins(const TimeRange& r, int bins, int64_t limit) {
  std::lock_guard lk(mu_);
  ConfidenceBins out;
  out.histogram.assign(static_cast<size_t>(bins), 0);
  // trunc, not CAST: PostgreSQL's cast to integer rounds, SQLite's truncates.
  auto s = query(
      "SELECT LEAST(GREATEST(trunc(confidence * $3::int)::bigint, 0), $3::int - 1) AS bin, "
      "COUNT(*) FROM (SELECT confidence FROM requests WHERE ts_ms BETWEEN $1 AND $2 "
      "ORDER BY ts_ms DESC LIMIT $4) recent WHERE confidence IS NOT NULL GROUP BY bin",
      range_params(r).add(bins).add(limit));
  if (!s) return sql_error("confidence", s.error());
  for (int i = 0; i < s->rows(); ++i) {
    const int64_t bin = s->i64(i, 0);
    if (bin < 0 || bin >= bins) continue;
    out.histogram[static_cast<size_t>(bin)] += s->i64(i, 1);
    out.with_confidence += s->i64(i, 1);
  }
  auto n = query(
      "SELECT COUNT(*) FROM (SELECT 1 FROM requests WHERE ts_ms BETWEEN $1 AND $2 LIMIT $3) x",
      range_params(r).add(limit));
  if (!n || n->rows() != 1) return sql_error("confidence", n ? Error{} : n.error());
  out.truncated = n->i64(0, 0) >= limit;
  return out;
}

Result<std::vector<LabelGroup>> PgStoreReader::label_groups(const TimeRange& r) {
  std::lock_guard lk(mu_);
  auto s = query(
      "SELECT COALESCE(r.tier, ''), COALESCE(l.sufficient_tier, ''), l.verdict, COUNT(*) "
      "FROM labels l JOIN requests r ON r.request_id = l.request_id "
      "WHERE l.id IN (SELECT MAX(id) FROM labels GROUP BY request_id) "
      "AND r.ts_ms BETWEEN $1 AND $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
      range_params(r));
  if (!s) return sql_error("labels", s.error());
  std::vector<LabelGroup> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back({s->text(i, 0), s->text(i, 1), s->text(i, 2), s->i64(i, 3)});
  }
  return out;
}

}  // namespace triage::telemetry

// SqliteStoreReader: the dashboard's queries (telemetry/dashboard_reader.h). Additive
// aggregations read the rollups (docs/store.md "Rollup"): whole hours from rollup_hour, other
// whole minutes from rollup_minute, raw rows only for the partial minutes at the edges, so they
// are exact for any range at a cost proportional to its hours rather than its requests.
#include <algorithm>
#include <utility>

#include "telemetry/rollup_source.h"
#include "telemetry/sqlite_reader.h"
#include "telemetry/trace_json.h"
#include "telemetry/store_rows.h"

namespace triage::telemetry {
namespace {

using sqlite::Statement;
using sqlite::Step;

// Every additive aggregation reads `src`: the whole hours of the range from rollup_hour, the
// remaining whole minutes from a per-minute rollup, and the partial minutes at the range's two
// edges from the requests themselves (at most two minutes of rows, a ts_ms index range scan),
// so the answer is exact for any range. Columns: minute (for rollup_hour, the hour's first),
// the five dimension columns ('' for NULL) and the sums. Parameters ?1..?10 (SourceBounds); a
// query numbers its own parameters from ?11.
std::string source_cte(const char* minute_table = "rollup_minute") {
  constexpr const char* kCols =
      "minute, model, tier, route, category, cohort, requests, client_errors, server_errors, "
      "timeouts, cost_usd, tokens_in, tokens_out, upstream_us, total_us";
  return std::string("WITH src(") + kCols + ") AS (SELECT " + kCols +
         " FROM rollup_hour WHERE minute BETWEEN ?3 AND ?4 UNION ALL SELECT " + kCols + " FROM " +
         minute_table +
         " WHERE minute BETWEEN ?5 AND ?6 OR minute BETWEEN ?7 AND ?8"
         " UNION ALL SELECT ts_ms / 60000, COALESCE(model, ''), COALESCE(tier, ''), "
         "COALESCE(route, ''), COALESCE(category, ''), COALESCE(cohort, ''), 1, "
         "status BETWEEN 400 AND 499, status >= 500, error_code IS 'upstream_timeout', cost_usd, "
         "tokens_in, tokens_out, upstream_us, total_us FROM requests "
         "WHERE ts_ms BETWEEN ?1 AND ?9 OR ts_ms BETWEEN ?10 AND ?2) ";
}

Statement& bind_range(Statement& s, const TimeRange& r) {
  return s.bind(1, r.from_ms).bind(2, r.to_ms);
}

Statement& bind_source(Statement& s, const TimeRange& r, RollupLevel level) {
  const SourceBounds b = source_bounds(r, level);
  return bind_range(s, r)
      .bind(3, b.hour_lo)
      .bind(4, b.hour_hi)
      .bind(5, b.m1_lo)
      .bind(6, b.m1_hi)
      .bind(7, b.m2_lo)
      .bind(8, b.m2_hi)
      .bind(9, b.raw1_hi)
      .bind(10, b.raw2_lo);
}

}  // namespace

Result<std::optional<TimeRange>> SqliteStoreReader::data_span(const TimeRange& r) {
  std::lock_guard lk(read_mu_);
  TimeRange span;
  for (const char* agg : {"MIN", "MAX"}) {
    Statement s(read_, std::string("SELECT ") + agg +
                           "(ts_ms) FROM requests WHERE ts_ms BETWEEN ?1 AND ?2");
    if (!s.ok() || bind_range(s, r).step() != Step::kRow) return sql_error("data span", read_);
    if (s.is_null(0)) return std::optional<TimeRange>();
    (agg[1] == 'I' ? span.from_ms : span.to_ms) = s.i64(0);
  }
  return std::optional<TimeRange>(span);
}

Result<SummaryRow> SqliteStoreReader::summary(const TimeRange& r) {
  std::lock_guard lk(read_mu_);
  Statement s(read_,
              source_cte() +
                  "SELECT TOTAL(requests), TOTAL(client_errors + server_errors), TOTAL(cost_usd), "
                  "TOTAL(tokens_in), TOTAL(tokens_out), "
                  "(SELECT MIN(ts_ms) FROM requests WHERE ts_ms BETWEEN ?1 AND ?2), "
                  "(SELECT MAX(ts_ms) FROM requests WHERE ts_ms BETWEEN ?1 AND ?2) FROM src");
  if (!s.ok() || bind_source(s, r, RollupLevel::kHour).step() != Step::kRow) {
    return sql_error("summary", read_);
  }
  SummaryRow out;
  out.requests = static_cast<int64_t>(s.real(0));
  out.errors = static_cast<int64_t>(s.real(1));
  out.cost_usd = s.real(2);
  out.tokens_in = static_cast<int64_t>(s.real(3));
  out.tokens_out = static_cast<int64_t>(s.real(4));
  out.first_ts_ms = s.i64(5);
  out.last_ts_ms = s.i64(6);
  return out;
}

Result<std::vector<CostCell>> SqliteStoreReader::cost_cells(const TimeRange& r, int64_t bucket_ms,
                                                            Dimension by) {
  // Whole-minute buckets aggregate the rollups; any other width reads the rows of the range.
  const RollupLevel level = by == Dimension::kKey || by == Dimension::kApi
                                ? RollupLevel::kRaw
                                : level_for_bucket(bucket_ms);
  const std::string key = dimension_key_sql(by);
  const std::string sql =
      level == RollupLevel::kRaw
          ? "SELECT (ts_ms / ?11) * ?11 AS b, " + key +
                " AS k, COUNT(*), TOTAL(cost_usd) FROM requests "
                "WHERE ts_ms BETWEEN ?1 AND ?2 GROUP BY b, k"
          : source_cte() + "SELECT (minute * 60000 / ?11) * ?11 AS b, " + key +
                " AS k, TOTAL(requests), TOTAL(cost_usd) FROM src GROUP BY b, k";
  std::lock_guard lk(read_mu_);
  Statement s(read_, sql);
  if (!s.ok()) return sql_error("cost series", read_);
  bind_source(s, r, level).bind(11, bucket_ms);
  std::vector<CostCell> out;
  const bool read_all = s.for_each_row([&] {
    out.push_back({s.i64(0), s.text(1), static_cast<int64_t>(s.real(2)), s.real(3)});
  });
  if (!read_all) return sql_error("cost series", read_);
  return out;
}

Result<std::vector<std::pair<int64_t, int64_t>>> SqliteStoreReader::success_counts(
    const TimeRange& r, int64_t bucket_ms) {
  const RollupLevel level = level_for_bucket(bucket_ms);
  std::lock_guard lk(read_mu_);
  Statement s(read_, level == RollupLevel::kRaw
                         ? std::string("SELECT (ts_ms / ?11) * ?11 AS b, TOTAL(status < 400) "
                                       "FROM requests WHERE ts_ms BETWEEN ?1 AND ?2 GROUP BY b")
                         : source_cte() +
                               "SELECT (minute * 60000 / ?11) * ?11 AS b, "
                               "TOTAL(requests - client_errors - server_errors) FROM src "
                               "GROUP BY b");
  if (!s.ok()) return sql_error("latency counts", read_);
  bind_source(s, r, level).bind(11, bucket_ms);
  std::vector<std::pair<int64_t, int64_t>> out;
  const bool read_all =
      s.for_each_row([&] { out.emplace_back(s.i64(0), static_cast<int64_t>(s.real(1))); });
  if (!read_all) return sql_error("latency counts", read_);
  return out;
}

Result<std::vector<std::vector<LatencySample>>> SqliteStoreReader::latency_samples(
    const std::vector<SampleWindow>& windows) {
  std::lock_guard lk(read_mu_);
  // One prepared statement, one ts_ms index range scan with a LIMIT per window.
  Statement s(read_,
              "SELECT total_us, routing_us, queue_us, upstream_ttfb_us, upstream_us, overhead_us "
              "FROM requests INDEXED BY requests_ts_ms WHERE ts_ms BETWEEN ?1 AND ?2 "
              "AND status < 400 LIMIT ?3");
  if (!s.ok()) return sql_error("latency series", read_);
  std::vector<std::vector<LatencySample>> out(windows.size());
  for (size_t w = 0; w < windows.size(); ++w) {
    s.reset();
    s.bind(1, windows[w].from_ms).bind(2, windows[w].to_ms).bind(3, windows[w].limit);
    const bool read_all = s.for_each_row([&] {
      LatencySample v;
      for (int p = 0; p < kLatencyParts; ++p) v[static_cast<size_t>(p)] = s.i64(p);
      out[w].push_back(v);
    });
    if (!read_all) return sql_error("latency series", read_);
  }
  return out;
}

Result<std::vector<ModelRow>> SqliteStoreReader::models(const TimeRange& r) {
  std::lock_guard lk(read_mu_);
  Statement s(read_,
              source_cte() +
                  "SELECT COALESCE(NULLIF(model, ''), '(none)') AS m, MAX(NULLIF(tier, '')), "
                  "TOTAL(requests) AS n, TOTAL(server_errors), TOTAL(client_errors), "
                  "TOTAL(timeouts), TOTAL(tokens_in), TOTAL(tokens_out), TOTAL(cost_usd), "
                  "TOTAL(upstream_us), TOTAL(total_us) / TOTAL(requests) FROM src "
                  "GROUP BY m ORDER BY n DESC, m");
  if (!s.ok()) return sql_error("models", read_);
  bind_source(s, r, RollupLevel::kHour);
  std::vector<ModelRow> out;
  const bool read_all = s.for_each_row([&] {
    ModelRow m;
    m.model = s.text(0);
    m.tier = s.text(1);
    m.requests = static_cast<int64_t>(s.real(2));
    m.server_errors = static_cast<int64_t>(s.real(3));
    m.client_errors = static_cast<int64_t>(s.real(4));
    m.timeouts = static_cast<int64_t>(s.real(5));
    m.tokens_in = static_cast<int64_t>(s.real(6));
    m.tokens_out = static_cast<int64_t>(s.real(7));
    m.cost_usd = s.real(8);
    m.upstream_us = static_cast<int64_t>(s.real(9));
    m.mean_total_us = s.real(10);
    out.push_back(std::move(m));
  });
  if (!read_all) return sql_error("models", read_);
  return out;
}

Result<std::vector<ModelAvailability>> SqliteStoreReader::availability(const TimeRange& r) {
  // A minute is available when at least one of its requests did not fail with a 5xx. Per
  // minute by definition: rollup_model_minute (one row per minute and model) plus the edges.
  std::lock_guard lk(read_mu_);
  Statement s(read_, source_cte("rollup_model_minute") +
                         "SELECT m, COUNT(*), TOTAL(ok) FROM (SELECT COALESCE(NULLIF(model, ''), "
                         "'(none)') AS m, minute, TOTAL(requests) > TOTAL(server_errors) AS ok "
                         "FROM src GROUP BY m, minute) GROUP BY m");
  if (!s.ok()) return sql_error("availability", read_);
  bind_source(s, r, RollupLevel::kMinute);
  std::vector<ModelAvailability> out;
  const bool read_all = s.for_each_row([&] {
    out.push_back({s.text(0), s.i64(1), static_cast<int64_t>(s.real(2))});
  });
  if (!read_all) return sql_error("availability", read_);
  return out;
}

Result<CascadeStops> SqliteStoreReader::cascade_stops(const TimeRange& r, int64_t limit) {
  // The typed record of each cascade's route span ("cascade":{"step":..,"route":..,
  // "outcome":..}, telemetry/trace_json.h) and the span's name, from SQLite's JSON functions.
  // A substring test on the key picks the requests that have one without parsing the others
  // (the key cannot occur inside a JSON string: its quotes would be escaped there); only those
  // have their spans parsed. Bounded by `limit` requests. (Measured: about twice the string
  // functions the funnel used before it read a typed field; docs/dashboard.md.)
  std::lock_guard lk(read_mu_);
  const std::string key = std::string("\"") + std::string(kCascadeSpanKey) + "\":{";
  Statement s(read_,
              "WITH recent AS (SELECT spans FROM requests WHERE ts_ms BETWEEN ?1 AND ?2 "
              "  AND instr(spans, ?4) > 0 ORDER BY ts_ms DESC LIMIT ?3) "
              "SELECT (SELECT COUNT(*) FROM recent), json_extract(e.value, '$.name') AS cascade, "
              "  json_extract(e.value, '$.cascade.step') AS step, "
              "  json_extract(e.value, '$.cascade.route'), "
              "  json_extract(e.value, '$.cascade.outcome') AS outcome, COUNT(*) "
              "FROM recent, json_each(recent.spans) e "
              "WHERE json_type(e.value, '$.cascade') = 'object' "
              "GROUP BY cascade, step, outcome ORDER BY cascade, step");
  if (!s.ok()) return sql_error("funnel", read_);
  bind_range(s, r).bind(3, limit).bind(4, key);
  CascadeStops out;
  const bool read_all = s.for_each_row([&] {
    out.requests = s.i64(0);
    const std::optional<core::CascadeOutcome> outcome = parse_cascade_outcome(s.text(4));
    if (!outcome) return;  // a later build's outcome: not countable here
    out.counts.push_back({s.text(1), static_cast<int>(s.i64(2)), s.text(3), *outcome, s.i64(5)});
  });
  if (!read_all) return sql_error("funnel", read_);
  return out;
}

Result<ConfidenceBins> SqliteStoreReader::confidence_bins(const TimeRange& r, int bins,
                                                          int64_t limit) {
  std::lock_guard lk(read_mu_);
  ConfidenceBins out;
  out.histogram.assign(static_cast<size_t>(bins), 0);
  Statement s(read_,
              "SELECT MIN(MAX(CAST(confidence * ?3 AS INTEGER), 0), ?3 - 1) AS bin, COUNT(*) "
              "FROM (SELECT confidence FROM requests INDEXED BY requests_ts_ms "
              "WHERE ts_ms BETWEEN ?1 AND ?2 ORDER BY ts_ms DESC LIMIT ?4) "
              "WHERE confidence IS NOT NULL GROUP BY bin");
  if (!s.ok()) return sql_error("confidence", read_);
  bind_range(s, r).bind(3, bins).bind(4, limit);
  const bool read_all = s.for_each_row([&] {
    const int64_t bin = s.i64(0);
    if (bin < 0 || bin >= bins) return;
    out.histogram[static_cast<size_t>(bin)] += s.i64(1);
    out.with_confidence += s.i64(1);
  });
  if (!read_all) return sql_error("confidence", read_);
  Statement n(read_,
              "SELECT COUNT(*) FROM (SELECT 1 FROM requests WHERE ts_ms BETWEEN ?1 AND ?2 "
              "LIMIT ?3)");  // index only
  if (!n.ok() || bind_range(n, r).bind(3, limit).step() != Step::kRow) {
    return sql_error("confidence", read_);
  }
  out.truncated = n.i64(0) >= limit;
  return out;
}

Result<std::vector<LabelGroup>> SqliteStoreReader::label_groups(const TimeRange& r) {
  // The latest label of each labeled request in the range (labels are few: no index on ts).
  std::lock_guard lk(read_mu_);
  Statement s(read_,
              "SELECT COALESCE(r.tier, ''), COALESCE(l.sufficient_tier, ''), l.verdict, COUNT(*) "
              "FROM labels l JOIN requests r ON r.request_id = l.request_id "
              "WHERE l.id IN (SELECT MAX(id) FROM labels GROUP BY request_id) "
              "AND r.ts_ms BETWEEN ?1 AND ?2 GROUP BY 1, 2, 3");
  if (!s.ok()) return sql_error("labels", read_);
  bind_range(s, r);
  std::vector<LabelGroup> out;
  const bool read_all = s.for_each_row([&] {
    out.push_back({s.text(0), s.text(1), s.text(2), s.i64(3)});
  });
  if (!read_all) return sql_error("labels", read_);
  return out;
}

}  // namespace triage::telemetry

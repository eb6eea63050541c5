#include "telemetry/dashboard_db.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace triage::telemetry {
namespace {

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

// The coarsest rollup a query may read: buckets narrower than an hour cannot use rollup_hour,
// nor narrower than a minute any rollup.
enum class Level { kRaw, kMinute, kHour };
Level level_for_bucket(int64_t bucket_ms) {
  if (bucket_ms % 3600000 == 0) return Level::kHour;
  if (bucket_ms % 60000 == 0) return Level::kMinute;
  return Level::kRaw;
}

// How `src` splits a range (all pairs inclusive; an empty piece has lo > hi): hour rows
// [hour_lo, hour_hi] (minute numbers of hour starts), minute rows in two pieces (before and
// after the whole hours), raw rows [from, raw1_hi] and [raw2_lo, to].
struct SourceBounds {
  int64_t hour_lo = 1, hour_hi = 0, m1_lo = 1, m1_hi = 0, m2_lo = 1, m2_hi = 0;
  int64_t raw1_hi = 0, raw2_lo = 0;
};

SourceBounds source_bounds(const TimeRange& r, Level level) {
  constexpr int64_t kMinute = 60000, kHour = 3600000;
  SourceBounds b;
  b.raw1_hi = r.to_ms;
  b.raw2_lo = r.to_ms + 1;
  if (level == Level::kRaw || r.from_ms < 0 || r.to_ms < r.from_ms) return b;
  // Whole units of [lo, hi]: first and last index (first > last when none).
  auto whole = [](int64_t lo, int64_t hi, int64_t unit) {
    return std::pair<int64_t, int64_t>{(lo + unit - 1) / unit, (hi + 1) / unit - 1};
  };
  // Segments left for minutes and raw rows: the range, or its parts around the whole hours.
  std::pair<int64_t, int64_t> segs[2] = {{r.from_ms, r.to_ms}, {1, 0}};
  int n_segs = 1;
  if (level == Level::kHour) {
    const auto [fh, lh] = whole(r.from_ms, r.to_ms, kHour);
    if (fh <= lh) {
      b.hour_lo = fh * 60;
      b.hour_hi = lh * 60;
      segs[0] = {r.from_ms, fh * kHour - 1};
      segs[1] = {(lh + 1) * kHour, r.to_ms};
      n_segs = 2;
    }
  }
  // Inner segment ends are hour-aligned, so raw rows only remain at the range's two edges.
  const auto [f0, l0] = whole(segs[0].first, segs[0].second, kMinute);
  if (f0 <= l0) {
    b.m1_lo = f0;
    b.m1_hi = l0;
    b.raw1_hi = f0 * kMinute - 1;
  } else {
    b.raw1_hi = segs[0].second;
  }
  if (n_segs == 1) {
    b.raw2_lo = f0 <= l0 ? (l0 + 1) * kMinute : r.to_ms + 1;
    return b;
  }
  const auto [f1, l1] = whole(segs[1].first, segs[1].second, kMinute);
  if (f1 <= l1) {
    b.m2_lo = f1;
    b.m2_hi = l1;
    b.raw2_lo = (l1 + 1) * kMinute;
  } else {
    b.raw2_lo = segs[1].first;
  }
  return b;
}

// Latency sample bounds (docs/dashboard.md "timeseries latency").
constexpr int64_t kMaxLatencyRows = 60000;   // rows read per call, over all buckets
constexpr int64_t kMinSamplePerBucket = 100;  // unless sample_per_bucket asks for fewer
constexpr int64_t kSlices = 10;               // time slices of a bucket sampled separately

class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) {
    ok_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) == SQLITE_OK;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return ok_; }
  Stmt& i64(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& range(const TimeRange& r) { return i64(1, r.from_ms).i64(2, r.to_ms); }
  Stmt& source(const TimeRange& r, Level level) {
    const SourceBounds b = source_bounds(r, level);
    return range(r)
        .i64(3, b.hour_lo)
        .i64(4, b.hour_hi)
        .i64(5, b.m1_lo)
        .i64(6, b.m1_hi)
        .i64(7, b.m2_lo)
        .i64(8, b.m2_hi)
        .i64(9, b.raw1_hi)
        .i64(10, b.raw2_lo);
  }
  void reset() { sqlite3_reset(s_); }
  int step() { return sqlite3_step(s_); }
  std::string text(int i) const {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(s_, i)))
             : std::string();
  }
  int64_t i64(int i) const { return sqlite3_column_int64(s_, i); }
  double real(int i) const { return sqlite3_column_double(s_, i); }
  bool null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_ = nullptr;
  bool ok_ = false;
};

// The key expression of a dimension over `src`.
const char* column_of(Dimension d) {
  switch (d) {
    case Dimension::kTier: return "COALESCE(NULLIF(tier, ''), '(none)')";
    case Dimension::kRoute: return "COALESCE(NULLIF(route, ''), '(none)')";
    case Dimension::kCategory: return "COALESCE(NULLIF(category, ''), '(none)')";
    case Dimension::kCohort: return "COALESCE(NULLIF(cohort, ''), '(none)')";
    case Dimension::kModel: return "COALESCE(NULLIF(model, ''), '(none)')";
    case Dimension::kNone: break;
  }
  return nullptr;
}

// Nearest-rank percentile of a sorted sample.
double percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]);
}

// Step names from a cascade span detail: "step 0 'small' rejected (...); step 1 'large' ...".
void parse_step_names(const std::string& detail, std::vector<std::string>& names) {
  size_t pos = 0;
  while ((pos = detail.find("step ", pos)) != std::string::npos) {
    pos += 5;
    size_t digits_end = pos;
    while (digits_end < detail.size() && std::isdigit(static_cast<unsigned char>(detail[digits_end])))
      ++digits_end;
    if (digits_end == pos || detail.compare(digits_end, 2, " '") != 0) continue;
    const size_t index = std::stoul(detail.substr(pos, digits_end - pos));
    const size_t name_start = digits_end + 2;
    const size_t name_end = detail.find('\'', name_start);
    if (name_end == std::string::npos || index > 64) continue;
    if (names.size() <= index) names.resize(index + 1);
    if (names[index].empty()) names[index] = detail.substr(name_start, name_end - name_start);
    pos = name_end;
  }
}

}  // namespace

std::optional<Dimension> parse_dimension(std::string_view name) {
  if (name.empty() || name == "none") return Dimension::kNone;
  if (name == "tier") return Dimension::kTier;
  if (name == "route") return Dimension::kRoute;
  if (name == "category") return Dimension::kCategory;
  if (name == "cohort") return Dimension::kCohort;
  if (name == "model") return Dimension::kModel;
  return std::nullopt;
}

std::vector<int64_t> bucket_starts(const TimeRange& r, int64_t bucket_ms) {
  std::vector<int64_t> out;
  if (bucket_ms <= 0 || r.to_ms < r.from_ms) return out;
  for (int64_t b = (r.from_ms / bucket_ms) * bucket_ms; b <= r.to_ms; b += bucket_ms) out.push_back(b);
  return out;
}

DashboardDb::DashboardDb(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("dashboard store " + path + ": cannot open database: " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_exec(db_, "PRAGMA cache_size=-32768;", nullptr, nullptr, nullptr);
}

DashboardDb::~DashboardDb() { sqlite3_close(db_); }

Error DashboardDb::sql_error(const char* what) const {
  return make_error(ErrorCode::kInternal, std::string("dashboard store error: ") + what,
                    path_ + ": " + what + ": " + sqlite3_errmsg(db_));
}

Result<std::optional<TimeRange>> DashboardDb::data_span(const TimeRange& r) {
  std::lock_guard lk(mu_);
  TimeRange span;
  for (const char* agg : {"MIN", "MAX"}) {
    Stmt s(db_, std::string("SELECT ") + agg +
                    "(ts_ms) FROM requests WHERE ts_ms BETWEEN ?1 AND ?2");
    if (!s.ok()) return sql_error("data span");
    s.range(r);
    if (s.step() != SQLITE_ROW) return sql_error("data span");
    if (s.null(0)) return std::optional<TimeRange>();
    (agg[1] == 'I' ? span.from_ms : span.to_ms) = s.i64(0);
  }
  return std::optional<TimeRange>(span);
}

Result<SummaryRow> DashboardDb::summary(const TimeRange& r) {
  std::lock_guard lk(mu_);
  Stmt s(db_,
         source_cte() +
             "SELECT TOTAL(requests), TOTAL(client_errors + server_errors), TOTAL(cost_usd), "
             "TOTAL(tokens_in), TOTAL(tokens_out), "
             "(SELECT MIN(ts_ms) FROM requests WHERE ts_ms BETWEEN ?1 AND ?2), "
             "(SELECT MAX(ts_ms) FROM requests WHERE ts_ms BETWEEN ?1 AND ?2) FROM src");
  if (!s.ok()) return sql_error("summary");
  s.source(r, Level::kHour);
  if (s.step() != SQLITE_ROW) return sql_error("summary");
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

Result<CostSeries> DashboardDb::cost_series(const TimeRange& r, int64_t bucket_ms, Dimension by,
                                            size_t max_groups) {
  CostSeries out;
  out.bucket_ms = bucket_ms;
  out.buckets = bucket_starts(r, bucket_ms);
  if (out.buckets.empty()) return out;
  const char* col = column_of(by);
  const std::string key = col ? col : "'all'";
  // Whole-minute buckets aggregate the rollups; any other width reads the rows of the range.
  const Level level = level_for_bucket(bucket_ms);
  const bool raw_only = level == Level::kRaw;
  const std::string sql = source_cte() + "SELECT (minute * 60000 / ?11) * ?11 AS b, " +
                          key +
                          " AS k, TOTAL(requests), TOTAL(cost_usd) FROM src GROUP BY b, k";
  const std::string raw_sql = "SELECT (ts_ms / ?11) * ?11 AS b, " + key +
                              " AS k, COUNT(*), TOTAL(cost_usd) FROM requests "
                              "WHERE ts_ms BETWEEN ?1 AND ?2 GROUP BY b, k";
  struct Cell {
    size_t bucket;
    int64_t requests;
    double cost;
  };
  std::unordered_map<std::string, std::vector<Cell>> by_key;
  std::unordered_map<std::string, int64_t> totals;
  {
    std::lock_guard lk(mu_);
    Stmt s(db_, raw_only ? raw_sql : sql);
    if (!s.ok()) return sql_error("cost series");
    s.source(r, level).i64(11, bucket_ms);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      const int64_t b = s.i64(0);
      const size_t idx = static_cast<size_t>((b - out.buckets.front()) / bucket_ms);
      if (idx >= out.buckets.size()) continue;
      std::string k = s.text(1);
      const int64_t requests = static_cast<int64_t>(s.real(2));
      totals[k] += requests;
      by_key[std::move(k)].push_back({idx, requests, s.real(3)});
    }
    if (rc != SQLITE_DONE) return sql_error("cost series");
  }
  std::vector<std::pair<std::string, int64_t>> order(totals.begin(), totals.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  const size_t n = out.buckets.size();
  auto add = [&](CostSeries::Series& series, const std::vector<Cell>& cells) {
    for (const Cell& c : cells) {
      series.requests[c.bucket] += c.requests;
      series.cost_usd[c.bucket] += c.cost;
    }
  };
  const bool fold = order.size() > max_groups;
  const size_t keep = fold ? max_groups - 1 : order.size();
  for (size_t i = 0; i < order.size(); ++i) {
    if (i == keep) {
      out.series.push_back({"(other)", std::vector<int64_t>(n), std::vector<double>(n)});
    }
    if (i < keep) {
      out.series.push_back({order[i].first, std::vector<int64_t>(n), std::vector<double>(n)});
    }
    add(out.series.back(), by_key[order[i].first]);
  }
  return out;
}

Result<LatencySeries> DashboardDb::latency_series(const TimeRange& r, int64_t bucket_ms,
                                                  int64_t sample_per_bucket) {
  constexpr int kParts = LatencySeries::kParts;
  LatencySeries out;
  out.bucket_ms = bucket_ms;
  out.sample_per_bucket = sample_per_bucket;
  out.buckets = bucket_starts(r, bucket_ms);
  const size_t n = out.buckets.size();
  out.requests.assign(n, 0);
  for (int p = 0; p < kParts; ++p) {
    out.p50[p].assign(n, 0.0);
    out.p95[p].assign(n, 0.0);
    out.p99[p].assign(n, 0.0);
    out.mean[p].assign(n, 0.0);
  }
  if (n == 0) return out;
  // Successful requests per bucket: from the rollups for whole-minute buckets (exact).
  const Level level = level_for_bucket(bucket_ms);
  const bool raw_only = level == Level::kRaw;
  {
    std::lock_guard lk(mu_);
    Stmt c(db_, raw_only ? std::string("SELECT (ts_ms / ?11) * ?11 AS b, TOTAL(status < 400) "
                                       "FROM requests WHERE ts_ms BETWEEN ?1 AND ?2 GROUP BY b")
                         : source_cte() +
                               "SELECT (minute * 60000 / ?11) * ?11 AS b, "
                               "TOTAL(requests - client_errors - server_errors) FROM src "
                               "GROUP BY b");
    if (!c.ok()) return sql_error("latency counts");
    c.source(r, level).i64(11, bucket_ms);
    int rc;
    while ((rc = c.step()) == SQLITE_ROW) {
      const size_t idx = static_cast<size_t>((c.i64(0) - out.buckets.front()) / bucket_ms);
      if (idx < n) out.requests[idx] = static_cast<int64_t>(c.real(1));
    }
    if (rc != SQLITE_DONE) return sql_error("latency counts");
  }
  // The sample: every successful row of a bucket holding at most `per_bucket` of them;
  // otherwise the first rows of kSlices equal time slices of the bucket (a ts_ms index range
  // scan with a LIMIT each), so the rows read stay below kMaxLatencyRows at any range.
  const int64_t per_bucket = std::min<int64_t>(
      sample_per_bucket,
      std::max<int64_t>(kMinSamplePerBucket, kMaxLatencyRows / static_cast<int64_t>(n)));
  out.sample_per_bucket = per_bucket;
  using Sample = std::array<int64_t, kParts>;
  std::vector<std::vector<Sample>> reservoir(n);
  {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "SELECT total_us, routing_us, queue_us, upstream_ttfb_us, upstream_us, overhead_us "
           "FROM requests INDEXED BY requests_ts_ms WHERE ts_ms BETWEEN ?1 AND ?2 "
           "AND status < 400 LIMIT ?3");
    if (!s.ok()) return sql_error("latency series");
    for (size_t b = 0; b < n; ++b) {
      if (out.requests[b] == 0) continue;
      const int64_t lo = std::max(r.from_ms, out.buckets[b]);
      const int64_t hi = std::min(r.to_ms, out.buckets[b] + bucket_ms - 1);
      const int64_t slices = out.requests[b] <= per_bucket ? 1 : std::min(kSlices, per_bucket);
      const int64_t limit = (per_bucket + slices - 1) / slices;
      for (int64_t i = 0; i < slices; ++i) {
        const int64_t width = hi - lo + 1;
        s.reset();
        s.i64(1, lo + width * i / slices).i64(2, lo + width * (i + 1) / slices - 1).i64(3, limit);
        int rc;
        while ((rc = s.step()) == SQLITE_ROW) {
          Sample v;
          for (int p = 0; p < kParts; ++p) v[p] = s.i64(p);
          reservoir[b].push_back(v);
        }
        if (rc != SQLITE_DONE) return sql_error("latency series");
      }
    }
  }
  std::vector<int64_t> column;
  for (size_t b = 0; b < n; ++b) {
    if (reservoir[b].empty()) continue;
    for (int p = 0; p < kParts; ++p) {
      column.clear();
      double sum = 0.0;
      for (const Sample& v : reservoir[b]) {
        column.push_back(v[p]);
        sum += static_cast<double>(v[p]);
      }
      std::sort(column.begin(), column.end());
      out.p50[p][b] = percentile(column, 0.50);
      out.p95[p][b] = percentile(column, 0.95);
      out.p99[p][b] = percentile(column, 0.99);
      out.mean[p][b] = sum / static_cast<double>(column.size());
    }
  }
  return out;
}

Result<std::vector<ModelRow>> DashboardDb::models(const TimeRange& r) {
  std::lock_guard lk(mu_);
  std::vector<ModelRow> out;
  std::unordered_map<std::string, size_t> index;
  {
    Stmt s(db_, source_cte() +
                    "SELECT COALESCE(NULLIF(model, ''), '(none)') AS m, MAX(NULLIF(tier, '')), "
                    "TOTAL(requests) AS n, TOTAL(server_errors), TOTAL(client_errors), "
                    "TOTAL(timeouts), TOTAL(tokens_in), TOTAL(tokens_out), TOTAL(cost_usd), "
                    "TOTAL(upstream_us), TOTAL(total_us) / TOTAL(requests) FROM src "
                    "GROUP BY m ORDER BY n DESC, m");
    if (!s.ok()) return sql_error("models");
    s.source(r, Level::kHour);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
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
      index[m.model] = out.size();
      out.push_back(std::move(m));
    }
    if (rc != SQLITE_DONE) return sql_error("models");
  }
  // A minute is available when at least one of its requests did not fail with a 5xx. Per
  // minute by definition: rollup_model_minute (one row per minute and model) plus the edges.
  Stmt a(db_, source_cte("rollup_model_minute") +
                  "SELECT m, COUNT(*), TOTAL(ok) FROM (SELECT COALESCE(NULLIF(model, ''), "
                  "'(none)') AS m, minute, TOTAL(requests) > TOTAL(server_errors) AS ok FROM src "
                  "GROUP BY m, minute) GROUP BY m");
  if (!a.ok()) return sql_error("availability");
  a.source(r, Level::kMinute);
  int rc;
  while ((rc = a.step()) == SQLITE_ROW) {
    auto it = index.find(a.text(0));
    if (it == index.end()) continue;  // a row written between the two queries
    out[it->second].minutes_with_traffic = a.i64(1);
    out[it->second].minutes_available = static_cast<int64_t>(a.real(2));
  }
  if (rc != SQLITE_DONE) return sql_error("availability");
  return out;
}

Result<Funnel> DashboardDb::funnel(const TimeRange& r, int64_t limit) {
  // The cascade's route span detail records every step it tried ("step 0 'small' rejected
  // (...); step 1 'large' accepted"), so the step it stopped at is the number of "; step "
  // separators. Plain string functions: no JSON parsing per row.
  std::lock_guard lk(mu_);
  Stmt s(db_,
         "WITH recent AS ("
         "  SELECT route, status, substr(spans, instr(spans, '\"detail\":\"cascade: ') + 19) AS t"
         "  FROM requests WHERE ts_ms BETWEEN ?1 AND ?2"
         "    AND instr(spans, '\"detail\":\"cascade: ') > 0"
         "  ORDER BY ts_ms DESC LIMIT ?3),"
         " details AS (SELECT COALESCE(route, '(none)') AS route, status,"
         "  substr(t, 1, instr(t, '\"') - 1) AS d FROM recent)"
         " SELECT route, (length(d) - length(replace(d, '; step ', ''))) / 7 AS step,"
         "  COUNT(*), TOTAL(status < 400), MAX(d) FROM details GROUP BY route, step"
         " ORDER BY route, step");
  if (!s.ok()) return sql_error("funnel");
  s.range(r).i64(3, limit);
  Funnel out;
  std::map<std::string, FunnelRoute> routes;
  std::map<std::string, std::vector<std::string>> names;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    const std::string route = s.text(0);
    const int step = static_cast<int>(std::min<int64_t>(s.i64(1), 64));
    FunnelRoute& fr = routes[route];
    fr.route = route;
    if (fr.steps.size() <= static_cast<size_t>(step)) fr.steps.resize(static_cast<size_t>(step) + 1);
    FunnelStep& fs = fr.steps[static_cast<size_t>(step)];
    fs.stopped += s.i64(2);
    fs.accepted += static_cast<int64_t>(s.real(3));
    fr.requests += s.i64(2);
    out.scanned += s.i64(2);
    parse_step_names(s.text(4), names[route]);
  }
  if (rc != SQLITE_DONE) return sql_error("funnel");
  out.truncated = out.scanned >= limit;
  for (auto& [route, fr] : routes) {
    const auto& n = names[route];
    if (fr.steps.size() < n.size()) fr.steps.resize(n.size());
    for (size_t i = 0; i < fr.steps.size(); ++i) {
      fr.steps[i].index = static_cast<int>(i);
      if (i < n.size()) fr.steps[i].name = n[i];
    }
    out.routes.push_back(std::move(fr));
  }
  std::sort(out.routes.begin(), out.routes.end(),
            [](const FunnelRoute& a, const FunnelRoute& b) { return a.requests > b.requests; });
  return out;
}

Result<ConfidenceStats> DashboardDb::confidence(const TimeRange& r, int bins, int64_t limit) {
  std::lock_guard lk(mu_);
  ConfidenceStats out;
  out.histogram.assign(static_cast<size_t>(bins), 0);
  {
    Stmt s(db_,
           "SELECT MIN(MAX(CAST(confidence * ?3 AS INTEGER), 0), ?3 - 1) AS bin, COUNT(*) "
           "FROM (SELECT confidence FROM requests INDEXED BY requests_ts_ms "
           "WHERE ts_ms BETWEEN ?1 AND ?2 ORDER BY ts_ms DESC LIMIT ?4) "
           "WHERE confidence IS NOT NULL GROUP BY bin");
    if (!s.ok()) return sql_error("confidence");
    s.range(r).i64(3, bins).i64(4, limit);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      const int64_t bin = s.i64(0);
      if (bin < 0 || bin >= bins) continue;
      out.histogram[static_cast<size_t>(bin)] += s.i64(1);
      out.with_confidence += s.i64(1);
    }
    Stmt n(db_, "SELECT COUNT(*) FROM (SELECT 1 FROM requests WHERE ts_ms BETWEEN ?1 AND ?2 "
                "LIMIT ?3)");  // index only
    if (!n.ok()) return sql_error("confidence");
    n.range(r).i64(3, limit);
    if (n.step() != SQLITE_ROW) return sql_error("confidence");
    out.truncated = n.i64(0) >= limit;
    if (rc != SQLITE_DONE) return sql_error("confidence");
  }
  // The latest label of each labeled request in the range (labels are few: no index on ts).
  Stmt l(db_,
         "SELECT COALESCE(r.tier, ''), COALESCE(l.sufficient_tier, ''), l.verdict, COUNT(*) "
         "FROM labels l JOIN requests r ON r.request_id = l.request_id "
         "WHERE l.id IN (SELECT MAX(id) FROM labels GROUP BY request_id) "
         "AND r.ts_ms BETWEEN ?1 AND ?2 GROUP BY 1, 2, 3");
  if (!l.ok()) return sql_error("labels");
  l.range(r);
  int rc;
  while ((rc = l.step()) == SQLITE_ROW) {
    out.labels.push_back({l.text(0), l.text(1), l.text(2), l.i64(3)});
  }
  if (rc != SQLITE_DONE) return sql_error("labels");
  return out;
}

}  // namespace triage::telemetry

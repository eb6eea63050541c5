#include "telemetry/dashboard_db.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace triage::telemetry {
namespace {

// Covering index for every range aggregation below (docs/dashboard.md "Index"). The columns
// after ts_ms are exactly the ones the queries read, so SQLite never touches the table rows.
constexpr const char* kCreateIndex =
    "CREATE INDEX IF NOT EXISTS requests_dashboard ON requests(ts_ms, status, cost_usd, "
    "tokens_in, tokens_out, model, tier, route, category, cohort, total_us, routing_us, "
    "queue_us, upstream_ttfb_us, upstream_us, overhead_us, error_code, confidence)";

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

const char* column_of(Dimension d) {
  switch (d) {
    case Dimension::kTier: return "tier";
    case Dimension::kRoute: return "route";
    case Dimension::kCategory: return "category";
    case Dimension::kCohort: return "cohort";
    case Dimension::kModel: return "model";
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
  // The index is created once through a short-lived writable connection; afterwards every
  // query runs on a read-only one.
  sqlite3* rw = nullptr;
  if (sqlite3_open_v2(path.c_str(), &rw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = rw ? sqlite3_errmsg(rw) : "out of memory";
    sqlite3_close(rw);
    throw std::runtime_error("dashboard store " + path + ": cannot open database: " + msg);
  }
  sqlite3_busy_timeout(rw, 10000);
  char* err = nullptr;
  if (sqlite3_exec(rw, kCreateIndex, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(rw);
    throw std::runtime_error("dashboard store " + path + ": cannot create index: " + msg);
  }
  sqlite3_close(rw);
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
         "SELECT COUNT(*), TOTAL(status >= 400), TOTAL(cost_usd), TOTAL(tokens_in), "
         "TOTAL(tokens_out), MIN(ts_ms), MAX(ts_ms) FROM requests INDEXED BY requests_dashboard "
         "WHERE ts_ms BETWEEN ?1 AND ?2");
  if (!s.ok()) return sql_error("summary");
  s.range(r);
  if (s.step() != SQLITE_ROW) return sql_error("summary");
  SummaryRow out;
  out.requests = s.i64(0);
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
  const std::string key = col ? "COALESCE(" + std::string(col) + ", '(none)')" : "'all'";
  const std::string sql = "SELECT (ts_ms / ?3) * ?3 AS b, " + key +
                          " AS k, COUNT(*), TOTAL(cost_usd) FROM requests INDEXED BY "
                          "requests_dashboard WHERE ts_ms BETWEEN ?1 AND ?2 GROUP BY b, k";
  struct Cell {
    size_t bucket;
    int64_t requests;
    double cost;
  };
  std::unordered_map<std::string, std::vector<Cell>> by_key;
  std::unordered_map<std::string, int64_t> totals;
  {
    std::lock_guard lk(mu_);
    Stmt s(db_, sql);
    if (!s.ok()) return sql_error("cost series");
    s.range(r).i64(3, bucket_ms);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      const int64_t b = s.i64(0);
      const size_t idx = static_cast<size_t>((b - out.buckets.front()) / bucket_ms);
      if (idx >= out.buckets.size()) continue;
      std::string k = s.text(1);
      totals[k] += s.i64(2);
      by_key[std::move(k)].push_back({idx, s.i64(2), s.real(3)});
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
  using Sample = std::array<int64_t, kParts>;
  std::vector<std::vector<Sample>> reservoir(n);
  std::vector<std::array<double, kParts>> sums(n);
  std::mt19937_64 rng(0x7269616765);  // fixed seed: the same data gives the same answer
  {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "SELECT ts_ms, total_us, routing_us, queue_us, upstream_ttfb_us, upstream_us, "
           "overhead_us FROM requests INDEXED BY requests_dashboard "
           "WHERE ts_ms BETWEEN ?1 AND ?2 AND status < 400");
    if (!s.ok()) return sql_error("latency series");
    s.range(r);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      const size_t idx = static_cast<size_t>((s.i64(0) / bucket_ms * bucket_ms - out.buckets.front()) /
                                             bucket_ms);
      if (idx >= n) continue;
      Sample v;
      for (int p = 0; p < kParts; ++p) {
        v[p] = s.i64(p + 1);
        sums[idx][p] += static_cast<double>(v[p]);
      }
      const int64_t seen = ++out.requests[idx];
      auto& res = reservoir[idx];
      if (static_cast<int64_t>(res.size()) < sample_per_bucket) {
        res.push_back(v);
      } else {  // reservoir sampling (Algorithm R): every row kept with equal probability
        const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(seen));
        if (j < sample_per_bucket) res[static_cast<size_t>(j)] = v;
      }
    }
    if (rc != SQLITE_DONE) return sql_error("latency series");
  }
  std::vector<int64_t> column;
  for (size_t b = 0; b < n; ++b) {
    if (out.requests[b] == 0) continue;
    for (int p = 0; p < kParts; ++p) {
      column.clear();
      for (const Sample& v : reservoir[b]) column.push_back(v[p]);
      std::sort(column.begin(), column.end());
      out.p50[p][b] = percentile(column, 0.50);
      out.p95[p][b] = percentile(column, 0.95);
      out.p99[p][b] = percentile(column, 0.99);
      out.mean[p][b] = sums[b][p] / static_cast<double>(out.requests[b]);
    }
  }
  return out;
}

Result<std::vector<ModelRow>> DashboardDb::models(const TimeRange& r) {
  std::lock_guard lk(mu_);
  std::vector<ModelRow> out;
  std::unordered_map<std::string, size_t> index;
  {
    Stmt s(db_,
           "SELECT COALESCE(model, '(none)') AS m, MAX(tier), COUNT(*), TOTAL(status >= 500), "
           "TOTAL(status BETWEEN 400 AND 499), TOTAL(error_code = 'upstream_timeout'), "
           "TOTAL(tokens_in), TOTAL(tokens_out), TOTAL(cost_usd), TOTAL(upstream_us), "
           "AVG(total_us) FROM requests INDEXED BY requests_dashboard "
           "WHERE ts_ms BETWEEN ?1 AND ?2 GROUP BY m ORDER BY COUNT(*) DESC, m");
    if (!s.ok()) return sql_error("models");
    s.range(r);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      ModelRow m;
      m.model = s.text(0);
      m.tier = s.text(1);
      m.requests = s.i64(2);
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
  Stmt a(db_,
         "SELECT m, COUNT(*), TOTAL(ok) FROM (SELECT COALESCE(model, '(none)') AS m, "
         "ts_ms / 60000 AS minute, MAX(status < 500) AS ok FROM requests INDEXED BY "
         "requests_dashboard WHERE ts_ms BETWEEN ?1 AND ?2 GROUP BY m, minute) GROUP BY m");
  if (!a.ok()) return sql_error("availability");
  a.range(r);
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

Result<ConfidenceStats> DashboardDb::confidence(const TimeRange& r, int bins) {
  std::lock_guard lk(mu_);
  ConfidenceStats out;
  out.histogram.assign(static_cast<size_t>(bins), 0);
  {
    Stmt s(db_,
           "SELECT MIN(MAX(CAST(confidence * ?3 AS INTEGER), 0), ?3 - 1) AS bin, COUNT(*) "
           "FROM requests INDEXED BY requests_dashboard WHERE ts_ms BETWEEN ?1 AND ?2 "
           "AND confidence IS NOT NULL GROUP BY bin");
    if (!s.ok()) return sql_error("confidence");
    s.range(r).i64(3, bins);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      const int64_t bin = s.i64(0);
      if (bin < 0 || bin >= bins) continue;
      out.histogram[static_cast<size_t>(bin)] += s.i64(1);
      out.with_confidence += s.i64(1);
    }
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

#pragma once
// Aggregations over the request store for the dashboard (server/dashboard_api.h turns them into
// JSON; docs/dashboard.md documents both). Additive aggregations (summary, cost series, models)
// read the rollups (docs/store.md "Rollup"): whole hours from rollup_hour, other whole minutes
// from rollup_minute, raw rows only for the partial minutes at the edges: exact for any range,
// O(hours + minutes at the edges) rather than O(requests).
// The rest is bounded: the latency sample (rows per call capped), the funnel and the confidence
// histogram (newest N rows of the range).
//
// Threading: every method blocks on SQLite I/O; call it from a worker thread, never an I/O thread.
// Thread-safe: one read-only connection guarded by mu_ (reads never block the store's writer:
// WAL).
//
// Needs a store of schema version 3 (open it with SqliteStore first, which migrates).
#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace triage::telemetry {

// [from_ms, to_ms], unix milliseconds, both inclusive.
struct TimeRange {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
};

struct SummaryRow {
  int64_t requests = 0;
  int64_t errors = 0;  // status >= 400
  double cost_usd = 0.0;
  int64_t tokens_in = 0, tokens_out = 0;
  int64_t first_ts_ms = 0, last_ts_ms = 0;  // 0 when there are no requests
};

// Dimensions a series can be split by; each is a column of `requests`.
enum class Dimension { kNone, kTier, kRoute, kCategory, kCohort, kModel };
std::optional<Dimension> parse_dimension(std::string_view name);  // "" -> kNone

// Requests and cost per (time bucket, group). Groups: the column's value, "(none)" for NULL.
struct CostSeries {
  int64_t bucket_ms = 0;
  std::vector<int64_t> buckets;  // start of each bucket, ascending, every bucket of the range
  struct Series {
    std::string key;
    std::vector<int64_t> requests;  // per bucket
    std::vector<double> cost_usd;   // per bucket
  };
  std::vector<Series> series;  // by total requests, descending; beyond max_groups folded in "(other)"
};

// Latency per bucket over successful requests (status < 400): exact counts (rollup), and
// percentiles and means of each part from a bounded sample: every request of a bucket holding
// at most `sample_per_bucket` (exact then), otherwise the first requests of 10 equal time slices
// of the bucket. `sample_per_bucket` is lowered so that one call reads at most 60,000 rows.
struct LatencySeries {
  static constexpr int kParts = 6;  // total, routing, queue, upstream_ttfb, upstream, overhead
  static constexpr const char* kPartNames[kParts] = {"total", "routing", "queue",
                                                     "upstream_ttfb", "upstream", "overhead"};
  int64_t bucket_ms = 0;
  std::vector<int64_t> buckets;
  std::vector<int64_t> requests;  // per bucket: successful requests, exact
  // [part][bucket]: p50, p95, p99 and mean, in microseconds; 0 for an empty bucket.
  std::vector<double> p50[kParts], p95[kParts], p99[kParts], mean[kParts];
  int64_t sample_per_bucket = 0;  // as used (after the per-call bound)
};

struct ModelRow {
  std::string model;  // "(none)": requests that failed before any model was chosen
  std::string tier;
  int64_t requests = 0;
  int64_t server_errors = 0;  // status >= 500 (counts against the model's SLO)
  int64_t client_errors = 0;  // 400..499 (the caller's fault or a cancel; not counted)
  int64_t timeouts = 0;       // error_code upstream_timeout
  int64_t tokens_in = 0, tokens_out = 0;
  double cost_usd = 0.0;
  int64_t upstream_us = 0;  // summed over requests
  double mean_total_us = 0.0;
  int64_t minutes_with_traffic = 0;
  int64_t minutes_available = 0;  // minutes with traffic in which at least one request succeeded
};

// One cascade route's funnel: how many requests reached each step and stopped there.
struct FunnelStep {
  int index = 0;
  std::string name;       // the step's route, from the span detail ("step 1 'medium'")
  int64_t stopped = 0;    // requests whose cascade ended at this step
  int64_t accepted = 0;   // of those, answered by this step
};
struct FunnelRoute {
  std::string route;
  int64_t requests = 0;
  std::vector<FunnelStep> steps;
};
struct Funnel {
  std::vector<FunnelRoute> routes;
  int64_t scanned = 0;  // cascade requests read (the newest `limit` of the range)
  bool truncated = false;  // the range held more than `limit` cascade requests
};

struct ConfidenceStats {
  std::vector<int64_t> histogram;  // `bins` equal bins over [0, 1]; 1.0 falls in the last
  int64_t with_confidence = 0;
  // Latest label per request joined with the request's answering tier, grouped.
  struct LabelGroup {
    std::string answered_tier, sufficient_tier, verdict;
    int64_t count = 0;
  };
  std::vector<LabelGroup> labels;
  bool truncated = false;  // the histogram covers only the newest `limit` requests of the range
};

class DashboardDb {
 public:
  // Opens `path` (a request store, schema version 3) read-only. Throws std::runtime_error naming
  // the path when it cannot.
  explicit DashboardDb(const std::string& path);
  ~DashboardDb();
  DashboardDb(const DashboardDb&) = delete;
  DashboardDb& operator=(const DashboardDb&) = delete;

  // The first and last request time within `r`; nullopt when it holds no request. Two index
  // seeks, cheap at any size.
  Result<std::optional<TimeRange>> data_span(const TimeRange& r);
  Result<SummaryRow> summary(const TimeRange& r);
  Result<CostSeries> cost_series(const TimeRange& r, int64_t bucket_ms, Dimension by,
                                 size_t max_groups = 8);
  Result<LatencySeries> latency_series(const TimeRange& r, int64_t bucket_ms,
                                       int64_t sample_per_bucket = 2000);
  Result<std::vector<ModelRow>> models(const TimeRange& r);
  Result<Funnel> funnel(const TimeRange& r, int64_t limit = 50000);
  // The histogram bins the requests with a confidence among the newest `limit` requests of the
  // range (a ts_ms index range scan, newest first), so its cost is bounded at any range.
  Result<ConfidenceStats> confidence(const TimeRange& r, int bins = 20, int64_t limit = 100000);

 private:
  Error sql_error(const char* what) const;

  std::string path_;
  std::mutex mu_;
  sqlite3* db_ = nullptr;  // read-only; guarded by mu_
};

// Buckets of the range: starts aligned to multiples of bucket_ms (unix epoch), ascending.
std::vector<int64_t> bucket_starts(const TimeRange& r, int64_t bucket_ms);

}  // namespace triage::telemetry

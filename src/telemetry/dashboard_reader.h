#pragma once
// What the dashboard reads from the request store: typed queries and rows, no backend types.
// telemetry/dashboard_db.h builds the dashboard's series, funnel and histograms from these
// (the part every backend shares); a backend implements only the queries (SQLite:
// telemetry/sqlite_reader.h; docs/store.md "Another backend").
//
// Contract of every method: exact over [from_ms, to_ms] unless it says it is bounded; blocks
// on I/O, so call it from a worker thread, never an I/O thread; thread-safe; errors are
// values (kInternal, the internal message naming the store and the query).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "core/trace.h"

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
// kKey (the client key's name, else its id) and kApi (the client API: chat, messages,
// responses, embeddings; "chat" for rows older than the column) are not in the rollups: they
// read the rows.
enum class Dimension { kNone, kTier, kRoute, kCategory, kCohort, kModel, kKey, kApi };
std::optional<Dimension> parse_dimension(std::string_view name);  // "" -> kNone

// Requests and cost of one (bucket, group): the group is the dimension's value, "(none)" for
// a request without one, "all" for Dimension::kNone.
struct CostCell {
  int64_t bucket_start_ms = 0;  // a multiple of the bucket width (unix epoch)
  std::string key;
  int64_t requests = 0;
  double cost_usd = 0.0;
};

// The latency split of one request, microseconds, in LatencyParts order.
inline constexpr int kLatencyParts = 6;
inline constexpr const char* kLatencyPartNames[kLatencyParts] = {
    "total", "routing", "queue", "upstream_ttfb", "upstream", "overhead"};
using LatencySample = std::array<int64_t, kLatencyParts>;

// A window the latency sample reads: the first `limit` successful requests (status < 400) in
// [from_ms, to_ms], in ts_ms order.
struct SampleWindow {
  int64_t from_ms = 0, to_ms = 0;
  int64_t limit = 0;
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

struct ModelAvailability {
  std::string model;
  int64_t minutes_with_traffic = 0;
  int64_t minutes_available = 0;
};

// How many cascades (of one cascade route) ended at one step, and how: from the typed
// core::Span::cascade field of the cascade's route span (docs/store.md "spans").
struct CascadeStopCount {
  std::string cascade;     // the cascade route's name
  int step = 0;            // 0-based
  std::string step_route;  // that step's route
  core::CascadeOutcome outcome = core::CascadeOutcome::kAccepted;
  int64_t count = 0;
};
struct CascadeStops {
  std::vector<CascadeStopCount> counts;
  int64_t requests = 0;  // requests read: the newest `limit` of the range with a cascade span
};

struct ConfidenceBins {
  std::vector<int64_t> histogram;  // `bins` equal bins over [0, 1]; 1.0 falls in the last
  int64_t with_confidence = 0;
  bool truncated = false;  // the range holds more than `limit` requests
};

// Latest label per request joined with the request's answering tier, grouped.
struct LabelGroup {
  std::string answered_tier, sufficient_tier, verdict;
  int64_t count = 0;
};

class DashboardReader {
 public:
  virtual ~DashboardReader() = default;

  // The first and last request time within `r`; nullopt when it holds no request.
  virtual Result<std::optional<TimeRange>> data_span(const TimeRange& r) = 0;
  virtual Result<SummaryRow> summary(const TimeRange& r) = 0;
  // Every (bucket, group) with requests; buckets of `bucket_ms` aligned to the epoch.
  virtual Result<std::vector<CostCell>> cost_cells(const TimeRange& r, int64_t bucket_ms,
                                                   Dimension by) = 0;
  // Successful requests (status < 400) per bucket, as (bucket start, count), buckets with
  // requests only.
  virtual Result<std::vector<std::pair<int64_t, int64_t>>> success_counts(const TimeRange& r,
                                                                          int64_t bucket_ms) = 0;
  // One sample per window, in window order (bounded by the windows' limits).
  virtual Result<std::vector<std::vector<LatencySample>>> latency_samples(
      const std::vector<SampleWindow>& windows) = 0;
  // Per model (the store's `model` column), by requests descending then name; the
  // minutes_* fields are 0 here (availability() has them).
  virtual Result<std::vector<ModelRow>> models(const TimeRange& r) = 0;
  virtual Result<std::vector<ModelAvailability>> availability(const TimeRange& r) = 0;
  // Bounded: the newest `limit` requests of the range that have a cascade span.
  virtual Result<CascadeStops> cascade_stops(const TimeRange& r, int64_t limit) = 0;
  // Bounded: bins the requests with a confidence among the newest `limit` of the range.
  virtual Result<ConfidenceBins> confidence_bins(const TimeRange& r, int bins, int64_t limit) = 0;
  // The latest label of each labeled request in the range.
  virtual Result<std::vector<LabelGroup>> label_groups(const TimeRange& r) = 0;
};

}  // namespace triage::telemetry

#pragma once
// The dashboard's figures (server/dashboard_api.h turns them into JSON; docs/dashboard.md
// documents both), built from the typed queries of a DashboardReader (any backend): series
// folded to their largest groups, latency percentiles of a bounded sample (the one percentile,
// telemetry/percentile.h), the cascade funnel, the confidence histogram.
//
// Threading: every method blocks on the reader's I/O; call it from a worker thread, never an
// I/O thread. Thread-safe when the reader is (every StoreReader is).
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "telemetry/dashboard_reader.h"

namespace triage::telemetry {

// Requests and cost per (time bucket, group). Groups: the column's value, "(none)" for NULL.
struct CostSeries {
  int64_t bucket_ms = 0;
  std::vector<int64_t> buckets;  // start of each bucket, ascending, every bucket of the range
  struct Series {
    std::string key;
    std::vector<int64_t> requests;  // per bucket
    std::vector<double> cost_usd;   // per bucket
  };
  std::vector<Series>
      series;  // by total requests, descending; beyond max_groups folded in "(other)"
};

// Latency per bucket over successful requests (status < 400): exact counts (rollup), and
// percentiles and means of each part from a bounded sample: every request of a bucket holding
// at most `sample_per_bucket` (exact then), otherwise the first requests of 10 equal time slices
// of the bucket. `sample_per_bucket` is lowered so that one call reads at most 60,000 rows.
struct LatencySeries {
  static constexpr int kParts = kLatencyParts;
  static constexpr const char* const* kPartNames = kLatencyPartNames;
  int64_t bucket_ms = 0;
  std::vector<int64_t> buckets;
  std::vector<int64_t> requests;  // per bucket: successful requests, exact
  // [part][bucket]: p50, p95, p99 and mean, in microseconds; 0 for an empty bucket.
  std::vector<double> p50[kParts], p95[kParts], p99[kParts], mean[kParts];
  int64_t sample_per_bucket = 0;  // as used (after the per-call bound)
};

// One cascade route's funnel: how many of its runs reached each step and stopped there.
struct FunnelStep {
  int index = 0;
  std::string name;      // the step's route
  int64_t stopped = 0;   // cascades that ended at this step
  int64_t accepted = 0;  // of those, answered by this step (accepted, or final with failed checks)
};
struct FunnelRoute {
  std::string route;  // the cascade route
  int64_t requests = 0;
  std::vector<FunnelStep> steps;
};
struct Funnel {
  std::vector<FunnelRoute> routes;  // by requests, descending
  int64_t scanned = 0;              // cascade requests read (the newest `limit` of the range)
  bool truncated = false;           // the range held more than `limit` cascade requests
};

struct ConfidenceStats {
  std::vector<int64_t> histogram;  // `bins` equal bins over [0, 1]; 1.0 falls in the last
  int64_t with_confidence = 0;
  using LabelGroup = telemetry::LabelGroup;
  std::vector<LabelGroup> labels;
  bool truncated = false;  // the histogram covers only the newest `limit` requests of the range
};

class DashboardDb {
 public:
  // `reader` must outlive this.
  explicit DashboardDb(DashboardReader& reader) : reader_(reader) {}

  Result<std::optional<TimeRange>> data_span(const TimeRange& r) { return reader_.data_span(r); }
  Result<SummaryRow> summary(const TimeRange& r) { return reader_.summary(r); }
  Result<CostSeries> cost_series(const TimeRange& r, int64_t bucket_ms, Dimension by,
                                 size_t max_groups = 8);
  Result<LatencySeries> latency_series(const TimeRange& r, int64_t bucket_ms,
                                       int64_t sample_per_bucket = 2000);
  // Per model, with availability: configured models without traffic are the caller's to add.
  Result<std::vector<ModelRow>> models(const TimeRange& r);
  // The newest `limit` requests of the range with a cascade, per cascade route and step.
  Result<Funnel> funnel(const TimeRange& r, int64_t limit = 50000);
  // The histogram bins the requests with a confidence among the newest `limit` requests of the
  // range, so its cost is bounded at any range.
  Result<ConfidenceStats> confidence(const TimeRange& r, int bins = 20, int64_t limit = 100000);

 private:
  DashboardReader& reader_;
};

// Buckets of the range: starts aligned to multiples of bucket_ms (unix epoch), ascending.
std::vector<int64_t> bucket_starts(const TimeRange& r, int64_t bucket_ms);

}  // namespace triage::telemetry

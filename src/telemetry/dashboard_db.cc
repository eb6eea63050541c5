#include "telemetry/dashboard_db.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

#include "telemetry/percentile.h"

namespace triage::telemetry {
namespace {

// Latency sample bounds (docs/dashboard.md "timeseries latency").
constexpr int64_t kMaxLatencyRows = 60000;    // rows read per call, over all buckets
constexpr int64_t kMinSamplePerBucket = 100;  // unless sample_per_bucket asks for fewer
constexpr int64_t kSlices = 10;               // time slices of a bucket sampled separately

// The sample windows of each bucket with requests: the whole bucket when it holds at most
// `per_bucket` successful requests, else kSlices equal slices of `per_bucket / kSlices` each.
// window_bucket[i] is the bucket window i samples.
std::vector<SampleWindow> sample_windows(const TimeRange& r, const LatencySeries& s,
                                         int64_t per_bucket, std::vector<size_t>& window_bucket) {
  std::vector<SampleWindow> windows;
  for (size_t b = 0; b < s.buckets.size(); ++b) {
    if (s.requests[b] == 0) continue;
    const int64_t lo = std::max(r.from_ms, s.buckets[b]);
    const int64_t hi = std::min(r.to_ms, s.buckets[b] + s.bucket_ms - 1);
    const int64_t slices = s.requests[b] <= per_bucket ? 1 : std::min(kSlices, per_bucket);
    const int64_t limit = (per_bucket + slices - 1) / slices;
    const int64_t width = hi - lo + 1;
    for (int64_t i = 0; i < slices; ++i) {
      windows.push_back({lo + width * i / slices, lo + width * (i + 1) / slices - 1, limit});
      window_bucket.push_back(b);
    }
  }
  return windows;
}

// p50/p95/p99 and mean of each latency part of one bucket's sample.
void summarize_sample(const std::vector<LatencySample>& sample, size_t b, LatencySeries& out) {
  std::vector<int64_t> column;
  for (int p = 0; p < kLatencyParts; ++p) {
    column.clear();
    double sum = 0.0;
    for (const LatencySample& v : sample) {
      column.push_back(v[static_cast<size_t>(p)]);
      sum += static_cast<double>(v[static_cast<size_t>(p)]);
    }
    std::sort(column.begin(), column.end());
    out.p50[p][b] = percentile(column, 0.50);
    out.p95[p][b] = percentile(column, 0.95);
    out.p99[p][b] = percentile(column, 0.99);
    out.mean[p][b] = sum / static_cast<double>(column.size());
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
  if (name == "key") return Dimension::kKey;
  if (name == "api") return Dimension::kApi;
  return std::nullopt;
}

std::vector<int64_t> bucket_starts(const TimeRange& r, int64_t bucket_ms) {
  std::vector<int64_t> out;
  if (bucket_ms <= 0 || r.to_ms < r.from_ms) return out;
  for (int64_t b = (r.from_ms / bucket_ms) * bucket_ms; b <= r.to_ms; b += bucket_ms)
    out.push_back(b);
  return out;
}

Result<CostSeries> DashboardDb::cost_series(const TimeRange& r, int64_t bucket_ms, Dimension by,
                                            size_t max_groups) {
  CostSeries out;
  out.bucket_ms = bucket_ms;
  out.buckets = bucket_starts(r, bucket_ms);
  if (out.buckets.empty()) return out;
  auto cells = reader_.cost_cells(r, bucket_ms, by);
  if (!cells) return cells.error();
  struct Cell {
    size_t bucket;
    int64_t requests;
    double cost;
  };
  std::unordered_map<std::string, std::vector<Cell>> by_key;
  std::unordered_map<std::string, int64_t> totals;
  for (CostCell& c : *cells) {
    const size_t idx = static_cast<size_t>((c.bucket_start_ms - out.buckets.front()) / bucket_ms);
    if (idx >= out.buckets.size()) continue;
    totals[c.key] += c.requests;
    by_key[std::move(c.key)].push_back({idx, c.requests, c.cost_usd});
  }
  std::vector<std::pair<std::string, int64_t>> order(totals.begin(), totals.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  const size_t n = out.buckets.size();
  const bool fold = order.size() > max_groups;
  const size_t keep = fold ? max_groups - 1 : order.size();
  for (size_t i = 0; i < order.size(); ++i) {
    if (i == keep)
      out.series.push_back({"(other)", std::vector<int64_t>(n), std::vector<double>(n)});
    if (i < keep) {
      out.series.push_back({order[i].first, std::vector<int64_t>(n), std::vector<double>(n)});
    }
    CostSeries::Series& series = out.series.back();
    for (const Cell& c : by_key[order[i].first]) {
      series.requests[c.bucket] += c.requests;
      series.cost_usd[c.bucket] += c.cost;
    }
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
  // Successful requests per bucket, exact.
  auto counts = reader_.success_counts(r, bucket_ms);
  if (!counts) return counts.error();
  for (const auto& [start, count] : *counts) {
    const size_t idx = static_cast<size_t>((start - out.buckets.front()) / bucket_ms);
    if (idx < n) out.requests[idx] = count;
  }
  // The sample: the rows read stay below kMaxLatencyRows at any range.
  const int64_t per_bucket = std::min<int64_t>(
      sample_per_bucket,
      std::max<int64_t>(kMinSamplePerBucket, kMaxLatencyRows / static_cast<int64_t>(n)));
  out.sample_per_bucket = per_bucket;
  std::vector<size_t> window_bucket;
  const std::vector<SampleWindow> windows = sample_windows(r, out, per_bucket, window_bucket);
  auto samples = reader_.latency_samples(windows);
  if (!samples) return samples.error();
  std::vector<std::vector<LatencySample>> per_bucket_sample(n);
  for (size_t w = 0; w < windows.size() && w < samples->size(); ++w) {
    auto& into = per_bucket_sample[window_bucket[w]];
    into.insert(into.end(), (*samples)[w].begin(), (*samples)[w].end());
  }
  for (size_t b = 0; b < n; ++b) {
    if (!per_bucket_sample[b].empty()) summarize_sample(per_bucket_sample[b], b, out);
  }
  return out;
}

Result<std::vector<ModelRow>> DashboardDb::models(const TimeRange& r) {
  auto rows = reader_.models(r);
  if (!rows) return rows.error();
  auto available = reader_.availability(r);
  if (!available) return available.error();
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < rows->size(); ++i) index[(*rows)[i].model] = i;
  for (const ModelAvailability& a : *available) {
    auto it = index.find(a.model);
    if (it == index.end()) continue;  // a row written between the two queries
    (*rows)[it->second].minutes_with_traffic = a.minutes_with_traffic;
    (*rows)[it->second].minutes_available = a.minutes_available;
  }
  return rows;
}

Result<Funnel> DashboardDb::funnel(const TimeRange& r, int64_t limit) {
  auto stops = reader_.cascade_stops(r, limit);
  if (!stops) return stops.error();
  std::map<std::string, FunnelRoute> routes;
  for (const CascadeStopCount& c : stops->counts) {
    if (c.step < 0 || c.step > 64) continue;  // not a step this build could have written
    FunnelRoute& fr = routes[c.cascade];
    fr.route = c.cascade;
    const size_t step = static_cast<size_t>(c.step);
    if (fr.steps.size() <= step) fr.steps.resize(step + 1);
    FunnelStep& fs = fr.steps[step];
    fs.stopped += c.count;
    if (c.outcome == core::CascadeOutcome::kAccepted ||
        c.outcome == core::CascadeOutcome::kFinalChecksFailed) {
      fs.accepted += c.count;
    }
    if (fs.name.empty()) fs.name = c.step_route;
    fr.requests += c.count;
  }
  Funnel out;
  out.scanned = stops->requests;
  out.truncated = out.scanned >= limit;
  for (auto& [name, fr] : routes) {
    for (size_t i = 0; i < fr.steps.size(); ++i) fr.steps[i].index = static_cast<int>(i);
    out.routes.push_back(std::move(fr));
  }
  std::stable_sort(
      out.routes.begin(), out.routes.end(),
      [](const FunnelRoute& a, const FunnelRoute& b) { return a.requests > b.requests; });
  return out;
}

Result<ConfidenceStats> DashboardDb::confidence(const TimeRange& r, int bins, int64_t limit) {
  auto hist = reader_.confidence_bins(r, bins, limit);
  if (!hist) return hist.error();
  auto labels = reader_.label_groups(r);
  if (!labels) return labels.error();
  ConfidenceStats out;
  out.histogram = std::move(hist->histogram);
  out.with_confidence = hist->with_confidence;
  out.truncated = hist->truncated;
  out.labels = std::move(labels.value());
  return out;
}

}  // namespace triage::telemetry

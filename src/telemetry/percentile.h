#pragma once
// The one percentile of the project's reports: the dashboard's latency series, `triage report`
// and `triage analyze` all call it, so over the same requests they show the same p50/p95/p99
// (docs/store.md "Percentiles").
//
// Nearest rank: the p-th percentile of n sorted values is the value of rank ceil(p * n)
// (1-based, at least 1): the smallest value with at least a share p of the sample at or below
// it. Always one of the observed values, never an interpolation. p is taken in millionths
// (0.95 is exactly 950,000 of them), so the rank is exact integer arithmetic: 0.95 * 20 is rank
// 19, not the 20 that the binary 0.95 * 20 = 19.000000000000004 would give.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace triage::telemetry {

// The 1-based rank of the p-th percentile among n values (n >= 1; p in [0, 1]).
size_t percentile_rank(double p, size_t n);

// The p-th percentile of `sorted` (ascending); 0 for an empty sample.
template <typename T>
double percentile(const std::vector<T>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  return static_cast<double>(sorted[percentile_rank(p, sorted.size()) - 1]);
}

}  // namespace triage::telemetry

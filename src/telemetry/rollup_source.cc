#include "telemetry/rollup_source.h"

#include <utility>

namespace triage::telemetry {

RollupLevel level_for_bucket(int64_t bucket_ms) {
  if (bucket_ms % 3600000 == 0) return RollupLevel::kHour;
  if (bucket_ms % 60000 == 0) return RollupLevel::kMinute;
  return RollupLevel::kRaw;
}

SourceBounds source_bounds(const TimeRange& r, RollupLevel level) {
  constexpr int64_t kMinute = 60000, kHour = 3600000;
  SourceBounds b;
  b.raw1_hi = r.to_ms;
  b.raw2_lo = r.to_ms + 1;
  if (level == RollupLevel::kRaw || r.from_ms < 0 || r.to_ms < r.from_ms) return b;
  // Whole units of [lo, hi]: first and last index (first > last when none).
  auto whole = [](int64_t lo, int64_t hi, int64_t unit) {
    return std::pair<int64_t, int64_t>{(lo + unit - 1) / unit, (hi + 1) / unit - 1};
  };
  // Segments left for minutes and raw rows: the range, or its parts around the whole hours.
  std::pair<int64_t, int64_t> segs[2] = {{r.from_ms, r.to_ms}, {1, 0}};
  int n_segs = 1;
  if (level == RollupLevel::kHour) {
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

}  // namespace triage::telemetry

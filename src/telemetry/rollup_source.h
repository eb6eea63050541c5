#pragma once
// How an additive dashboard aggregation splits a time range over the rollup tables
// (docs/store.md "Rollup"): the whole hours from rollup_hour, the remaining whole minutes from
// a per-minute rollup, and the partial minutes at the two edges from the rows, so the answer
// is exact for any range. Backend-neutral arithmetic; each backend's reader turns the bounds
// into its SQL (sqlite_dashboard_queries.cc, pg_dashboard_queries.cc).
#include <cstdint>

#include "telemetry/dashboard_reader.h"

namespace triage::telemetry {

// The coarsest rollup a query may read: buckets narrower than an hour cannot use rollup_hour,
// nor narrower than a minute any rollup.
enum class RollupLevel { kRaw, kMinute, kHour };
RollupLevel level_for_bucket(int64_t bucket_ms);

// How a range splits (all pairs inclusive; an empty piece has lo > hi): hour rows
// [hour_lo, hour_hi] (minute numbers of hour starts), minute rows in two pieces (before and
// after the whole hours), raw rows [from, raw1_hi] and [raw2_lo, to].
struct SourceBounds {
  int64_t hour_lo = 1, hour_hi = 0, m1_lo = 1, m1_hi = 0, m2_lo = 1, m2_hi = 0;
  int64_t raw1_hi = 0, raw2_lo = 0;
};

SourceBounds source_bounds(const TimeRange& r, RollupLevel level);

}  // namespace triage::telemetry

#pragma once
// The checks every LimitBackend makes, as pure functions of a usage snapshot, so that the
// in-memory backend and the Redis one (whose Lua script decides admission atomically and
// returns the snapshot it decided on) build the same refusals. Internal to control/.
#include <optional>
#include <string>

#include "control/limits.h"
#include "control/utc_calendar.h"

namespace triage::control::detail {

inline LimitRefusal refusal(LimitKind kind, const ReserveRequest& r, int64_t limit, int64_t in_use,
                            int64_t requested) {
  LimitRefusal out;
  out.limit = kind;
  out.key_name = std::string(r.key_name);
  out.limit_value = limit;
  out.in_use = in_use;
  out.requested = requested;
  return out;
}

// Budget check for one period: nullopt when the request fits.
inline std::optional<LimitRefusal> check_budget(LimitKind kind, const ReserveRequest& r,
                                                NanoUsd limit, NanoUsd settled, NanoUsd in_flight,
                                                int64_t now, int64_t period_end_ms) {
  if (limit <= 0) return std::nullopt;
  const NanoUsd in_use = settled + in_flight;
  if (r.nano_usd > limit) {
    LimitRefusal out = refusal(kind, r, limit, in_use, r.nano_usd);
    out.never_fits = true;
    return out;
  }
  if (in_use + r.nano_usd <= limit) return std::nullopt;
  LimitRefusal out = refusal(kind, r, limit, in_use, r.nano_usd);
  // Only reservations in flight stand in the way: they may settle below their worst case soon.
  out.retry_after_s = settled + r.nano_usd <= limit ? 1 : retry_after_seconds(now, period_end_ms);
  return out;
}

// Of several refusals, the one to report: a never-fitting one, else the one that frees last.
inline bool reports_before(const LimitRefusal& a, const LimitRefusal& b) {
  if (a.never_fits != b.never_fits) return a.never_fits;
  return a.retry_after_s > b.retry_after_s;
}

// Collects refusals and keeps the one to report.
class WorstRefusal {
 public:
  void consider(std::optional<LimitRefusal> candidate) {
    if (candidate && (!worst_ || reports_before(*candidate, *worst_)))
      worst_ = std::move(candidate);
  }
  std::optional<LimitRefusal>& get() { return worst_; }

 private:
  std::optional<LimitRefusal> worst_;
};

}  // namespace triage::control::detail

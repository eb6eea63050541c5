#pragma once
// UTC calendar periods for budgets: a budget "per day" resets at 00:00:00 UTC, "per month" at
// 00:00:00 UTC on the 1st. Times are unix milliseconds; pure functions.
#include <cstdint>

namespace triage::control {

int64_t utc_day_index(int64_t unix_ms);    // days since 1970-01-01 (floor)
int64_t utc_month_index(int64_t unix_ms);  // year * 12 + (month - 1)
int64_t next_utc_day_start_ms(int64_t unix_ms);
int64_t next_utc_month_start_ms(int64_t unix_ms);
int64_t utc_day_start_ms(int64_t unix_ms);    // 00:00 UTC of the day holding unix_ms
int64_t utc_month_start_ms(int64_t unix_ms);  // 00:00 UTC on the 1st of its month

// Whole seconds from `now` until `at`, rounded up, at least 1 (a Retry-After value).
int64_t retry_after_seconds(int64_t now_ms, int64_t at_ms);

}  // namespace triage::control

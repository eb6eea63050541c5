#include "control/utc_calendar.h"

#include <chrono>

namespace triage::control {

namespace {
constexpr int64_t kDayMs = 86'400'000;

int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

std::chrono::year_month_day civil(int64_t unix_ms) {
  return std::chrono::year_month_day{
      std::chrono::sys_days{std::chrono::days{utc_day_index(unix_ms)}}};
}
}  // namespace

int64_t utc_day_index(int64_t unix_ms) { return floor_div(unix_ms, kDayMs); }

int64_t utc_month_index(int64_t unix_ms) {
  const auto ymd = civil(unix_ms);
  return static_cast<int64_t>(static_cast<int>(ymd.year())) * 12 +
         static_cast<int64_t>(static_cast<unsigned>(ymd.month())) - 1;
}

int64_t next_utc_day_start_ms(int64_t unix_ms) { return (utc_day_index(unix_ms) + 1) * kDayMs; }

int64_t next_utc_month_start_ms(int64_t unix_ms) {
  using namespace std::chrono;
  const auto ymd = civil(unix_ms);
  const year_month next = year_month{ymd.year(), ymd.month()} + months{1};
  const sys_days first{next / day{1}};
  return static_cast<int64_t>(first.time_since_epoch().count()) * kDayMs;
}

int64_t utc_day_start_ms(int64_t unix_ms) { return utc_day_index(unix_ms) * kDayMs; }

int64_t utc_month_start_ms(int64_t unix_ms) {
  using namespace std::chrono;
  const auto ymd = civil(unix_ms);
  const sys_days first{ymd.year() / ymd.month() / day{1}};
  return static_cast<int64_t>(first.time_since_epoch().count()) * kDayMs;
}

int64_t retry_after_seconds(int64_t now_ms, int64_t at_ms) {
  const int64_t wait_ms = at_ms - now_ms;
  if (wait_ms <= 1000) return 1;
  return (wait_ms + 999) / 1000;
}

}  // namespace triage::control

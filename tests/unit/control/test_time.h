#pragma once
// Unix milliseconds of a UTC calendar time, for tests of day and month boundaries.
#include <chrono>
#include <cstdint>

namespace triage::control::testing {

inline int64_t utc_ms(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  using namespace std::chrono;
  const int64_t days = sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count();
  return ((days * 24 + hh) * 60 + mm) * 60'000LL + ss * 1000LL;
}

}  // namespace triage::control::testing

#include <gtest/gtest.h>

#include "control/utc_calendar.h"
#include "test_time.h"

namespace triage::control {
namespace {

using testing::utc_ms;

TEST(LimitsCalendarTest, DayBoundaryIsMidnightUtc) {
  const int64_t last_second = utc_ms(2024, 3, 10, 23, 59, 59);
  const int64_t midnight = utc_ms(2024, 3, 11);
  EXPECT_EQ(utc_day_index(last_second) + 1, utc_day_index(midnight));
  EXPECT_EQ(utc_day_index(midnight - 1), utc_day_index(last_second));
  EXPECT_EQ(next_utc_day_start_ms(last_second), midnight);
  EXPECT_EQ(next_utc_day_start_ms(midnight), utc_ms(2024, 3, 12));
  EXPECT_EQ(utc_day_index(0), 0);
  EXPECT_EQ(utc_day_index(-1), -1);  // floor, not truncation
}

TEST(LimitsCalendarTest, MonthBoundariesIncludingLeapFebruaryAndNewYear) {
  EXPECT_EQ(next_utc_month_start_ms(utc_ms(2024, 2, 15)), utc_ms(2024, 3, 1));
  EXPECT_EQ(next_utc_month_start_ms(utc_ms(2024, 1, 31, 23, 59, 59)), utc_ms(2024, 2, 1));
  EXPECT_EQ(next_utc_month_start_ms(utc_ms(2024, 12, 31, 23, 59, 59)), utc_ms(2025, 1, 1));
  EXPECT_EQ(utc_month_index(utc_ms(2024, 12, 31, 23, 59, 59)) + 1,
            utc_month_index(utc_ms(2025, 1, 1)));
  EXPECT_EQ(utc_month_index(utc_ms(2024, 2, 29, 12)), utc_month_index(utc_ms(2024, 2, 1)));
  EXPECT_EQ(utc_month_index(utc_ms(1970, 1, 1)), 1970 * 12);
}

TEST(LimitsCalendarTest, StartsOfTheCurrentDayAndMonth) {
  EXPECT_EQ(utc_day_start_ms(utc_ms(2024, 3, 10, 23, 59, 59)), utc_ms(2024, 3, 10));
  EXPECT_EQ(utc_day_start_ms(utc_ms(2024, 3, 11)), utc_ms(2024, 3, 11));
  EXPECT_EQ(utc_month_start_ms(utc_ms(2024, 2, 29, 12)), utc_ms(2024, 2, 1));
  EXPECT_EQ(utc_month_start_ms(utc_ms(2024, 1, 1)), utc_ms(2024, 1, 1));
  EXPECT_EQ(utc_month_start_ms(utc_ms(2024, 12, 31, 23, 59, 59)), utc_ms(2024, 12, 1));
}

TEST(LimitsCalendarTest, RetryAfterSecondsRoundsUpAndIsAtLeastOne) {
  EXPECT_EQ(retry_after_seconds(0, 0), 1);
  EXPECT_EQ(retry_after_seconds(0, 1), 1);
  EXPECT_EQ(retry_after_seconds(0, 1000), 1);
  EXPECT_EQ(retry_after_seconds(0, 1001), 2);
  EXPECT_EQ(retry_after_seconds(500, 60'000), 60);
  EXPECT_EQ(retry_after_seconds(10'000, 5'000), 1);  // already past
}

}  // namespace
}  // namespace triage::control

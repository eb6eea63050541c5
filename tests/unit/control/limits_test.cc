#include "control/limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "control/memory_limits.h"
#include "control/redis_limits.h"
#include "support/redis_server.h"
#include "test_time.h"

namespace triage::control {
namespace {

using ::testing::HasSubstr;
using testing::utc_ms;

// Every case runs against both backends: the in-memory one and the Redis one (a real
// redis-server, started once for the suite, flushed before each case).
class LimitsTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { redis_ = triage::testing::RedisServer::start().release(); }
  static void TearDownTestSuite() {
    delete redis_;
    redis_ = nullptr;
  }
  void SetUp() override {
    if (GetParam() == "memory") {
      memory_ = std::make_unique<InMemoryLimitBackend>();
      return;
    }
    if (redis_ == nullptr) GTEST_SKIP() << triage::testing::RedisServer::kMissing;
    ASSERT_EQ(redis_->command({"FLUSHALL"}), "OK");
    redis_backend_ = std::make_unique<RedisLimitBackend>(RedisUrl::parse(redis_->url()).value(),
                                                         RedisLimitOptions{});
  }
  LimitBackend& backend() {
    if (memory_) return *memory_;
    return *redis_backend_;
  }
  void forget(std::string_view key_id) {
    if (memory_) memory_->forget(key_id);
    if (redis_backend_) redis_backend_->forget(key_id);
  }
  std::variant<Reservation, LimitRefusal> take(int64_t now, int64_t tokens = 10, double usd = 0.0) {
    return reserve(backend(), "key_a", "team-a", limits_, now, tokens, usd);
  }
  static Reservation admitted(std::variant<Reservation, LimitRefusal>&& r) {
    EXPECT_TRUE(std::holds_alternative<Reservation>(r))
        << limit_error(std::get<LimitRefusal>(r)).message;
    return std::holds_alternative<Reservation>(r) ? std::get<Reservation>(std::move(r))
                                                  : Reservation();
  }
  static LimitRefusal refused(std::variant<Reservation, LimitRefusal>&& r) {
    EXPECT_TRUE(std::holds_alternative<LimitRefusal>(r)) << "was admitted";
    return std::holds_alternative<LimitRefusal>(r) ? std::get<LimitRefusal>(std::move(r))
                                                   : LimitRefusal();
  }
  KeySpend spend(int64_t now) { return backend().spend("key_a", now); }

  static triage::testing::RedisServer* redis_;
  std::unique_ptr<InMemoryLimitBackend> memory_;
  std::unique_ptr<RedisLimitBackend> redis_backend_;
  KeyLimits limits_;
};
triage::testing::RedisServer* LimitsTest::redis_ = nullptr;

INSTANTIATE_TEST_SUITE_P(Backends, LimitsTest, ::testing::Values("memory", "redis"),
                         [](const auto& info) { return info.param; });

TEST(LimitsMoneyTest, NanoUsdRoundsToNearestAndRejectsNonsense) {
  EXPECT_EQ(usd_to_nanos(0.1), 100'000'000);
  EXPECT_EQ(usd_to_nanos(0.3), 300'000'000);
  EXPECT_EQ(usd_to_nanos(1e-9), 1);
  EXPECT_EQ(usd_to_nanos(0.4e-9), 0);
  EXPECT_EQ(usd_to_nanos(-1.0), 0);
  EXPECT_EQ(usd_to_nanos(std::nan("")), 0);
  EXPECT_EQ(usd_to_nanos(1e300), std::numeric_limits<int64_t>::max());
  EXPECT_DOUBLE_EQ(nanos_to_usd(2'500'000'000), 2.5);
}

TEST_P(LimitsTest, TenRequestsOfTenCentsFitADollarExactly) {
  limits_.usd_per_day = 1.00;
  const int64_t t = utc_ms(2024, 3, 10, 12);
  for (int i = 0; i < 10; ++i) admitted(take(t, 10, 0.10)).settle(10, 0.10);
  const LimitRefusal r = refused(take(t, 10, 0.10));
  EXPECT_EQ(r.limit, LimitKind::kUsdPerDay);
  EXPECT_EQ(r.key_name, "team-a");
  EXPECT_EQ(r.retry_after_s, 12 * 3600);  // until 00:00 UTC
  EXPECT_EQ(spend(t).today_nano_usd, 1'000'000'000);
}

TEST_P(LimitsTest, RequestsPerMinuteSlideExactly) {
  limits_.requests_per_minute = 3;
  admitted(take(0)).settle(10, 0);
  admitted(take(20'000)).settle(10, 0);
  admitted(take(40'000)).settle(10, 0);
  LimitRefusal r = refused(take(59'000));
  EXPECT_EQ(r.limit, LimitKind::kRequestsPerMinute);
  EXPECT_EQ(r.retry_after_s, 1);  // the request at 0 leaves the window at 60 s
  EXPECT_EQ(r.limit_value, 3);
  EXPECT_EQ(r.in_use, 3);
  refused(take(59'999));
  admitted(take(60'000)).settle(10, 0);
  r = refused(take(61'000));
  EXPECT_EQ(r.retry_after_s, 19);  // the request at 20 s leaves at 80 s
  admitted(take(80'000)).settle(10, 0);
  EXPECT_EQ(spend(80'000).window_requests, 3);
}

TEST_P(LimitsTest, TokensPerMinuteCountReservationsAndReturnTheUnusedPart) {
  limits_.tokens_per_minute = 1000;
  Reservation first = admitted(take(0, 600));
  LimitRefusal r = refused(take(1'000, 500));
  EXPECT_EQ(r.limit, LimitKind::kTokensPerMinute);
  EXPECT_EQ(r.in_use, 600);
  EXPECT_EQ(r.requested, 500);
  EXPECT_EQ(r.retry_after_s, 59);
  first.settle(300, 0);  // used less than its worst case
  Reservation second = admitted(take(1'000, 500));
  EXPECT_EQ(spend(1'000).window_tokens, 800);
  second.settle(500, 0);
  refused(take(2'000, 201));
  admitted(take(2'000, 200)).settle(200, 0);
}

TEST_P(LimitsTest, ARequestBiggerThanTheLimitNeverFitsAndSaysWhatToChange) {
  limits_.tokens_per_minute = 1000;
  const LimitRefusal r = refused(take(0, 1500));
  EXPECT_TRUE(r.never_fits);
  const Error e = limit_error(r);
  EXPECT_EQ(e.code, ErrorCode::kRateLimited);
  EXPECT_EQ(e.param, "max_tokens");
  EXPECT_THAT(e.message, HasSubstr("1500 tokens"));
  EXPECT_THAT(e.message, HasSubstr("lower max_tokens"));
  EXPECT_THAT(e.message, HasSubstr("team-a"));
  EXPECT_EQ(e.retry_after_s, 0);  // no Retry-After: retrying the same request cannot help
}

TEST_P(LimitsTest, BudgetsHoldReservationsInFlightAndRetrySoonWhenOnlyThoseBlock) {
  limits_.usd_per_day = 1.0;
  const int64_t t = utc_ms(2024, 3, 10, 12);
  Reservation a = admitted(take(t, 100, 0.6));
  LimitRefusal r = refused(take(t, 100, 0.6));
  EXPECT_EQ(r.limit, LimitKind::kUsdPerDay);
  EXPECT_EQ(r.retry_after_s, 1);  // settled spend is 0: the reservation may come back soon
  EXPECT_EQ(spend(t).in_flight_nano_usd, 600'000'000);
  a.settle(50, 0.1);
  Reservation b = admitted(take(t, 100, 0.6));
  r = refused(take(t, 100, 0.4));
  EXPECT_EQ(r.retry_after_s, 1);
  b.settle(100, 0.6);
  r = refused(take(t, 100, 0.4));
  EXPECT_EQ(r.retry_after_s, 12 * 3600);  // 0.7 settled: only tomorrow has room
  admitted(take(t, 100, 0.3)).settle(100, 0.3);
  const KeySpend s = spend(t);
  EXPECT_EQ(s.today_nano_usd, 1'000'000'000);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.in_flight_nano_usd, 0);
  EXPECT_EQ(s.refused[static_cast<std::size_t>(LimitKind::kUsdPerDay)], 3);
}

TEST_P(LimitsTest, DailyBudgetResetsAtMidnightUtc) {
  limits_.usd_per_day = 1.0;
  const int64_t last_second = utc_ms(2024, 3, 10, 23, 59, 59);
  admitted(take(last_second, 10, 1.0)).settle(10, 1.0);
  const LimitRefusal r = refused(take(last_second, 10, 0.01));
  EXPECT_EQ(r.retry_after_s, 1);
  EXPECT_EQ(limit_error(r).message,
            "API key 'team-a' is over its usd_per_day limit ($1.00 per UTC day, including "
            "requests in flight); retry after 1 s");
  EXPECT_EQ(limit_error(r).retry_after_s, 1);  // sent as Retry-After
  const int64_t midnight = utc_ms(2024, 3, 11);
  EXPECT_EQ(spend(midnight).today_nano_usd, 0);  // the view rolls over too
  admitted(take(midnight, 10, 1.0)).settle(10, 1.0);
  refused(take(midnight + 1, 10, 0.01));
}

TEST_P(LimitsTest, MoneyStaysInTheDayItWasReservedIn) {
  limits_.usd_per_day = 1.0;
  Reservation late = admitted(take(utc_ms(2024, 3, 10, 23, 59, 59), 10, 0.9));
  const int64_t next_day = utc_ms(2024, 3, 11, 0, 0, 2);
  Reservation early = admitted(take(next_day, 10, 0.9));  // yesterday's hold does not count
  late.settle(10, 0.9);  // settles after midnight, charged to yesterday
  early.settle(10, 0.9);
  const KeySpend s = spend(next_day);
  EXPECT_EQ(s.today_nano_usd, 900'000'000);
  EXPECT_EQ(s.nano_usd, 1'800'000'000);  // lifetime spend has both
  EXPECT_EQ(s.in_flight, 0);
}

TEST_P(LimitsTest, MonthlyBudgetResetsOnTheFirstAndNamesTheNextMonth) {
  limits_.usd_per_month = 5.0;
  const int64_t mid_feb = utc_ms(2024, 2, 15);
  admitted(take(mid_feb, 10, 5.0)).settle(10, 5.0);
  const LimitRefusal r = refused(take(mid_feb, 10, 0.01));
  EXPECT_EQ(r.limit, LimitKind::kUsdPerMonth);
  EXPECT_EQ(r.retry_after_s, 15 * 86400);  // 2024 is a leap year: Feb has 29 days
  refused(take(utc_ms(2024, 2, 29, 23, 59, 59), 10, 0.01));
  admitted(take(utc_ms(2024, 3, 1), 10, 0.01)).settle(10, 0.01);
}

TEST_P(LimitsTest, RestoredSpendCountsAgainstTheBudgetsOfItsPeriodOnly) {
  limits_.usd_per_day = 1.0;
  limits_.usd_per_month = 3.0;
  const int64_t t = utc_ms(2024, 3, 10, 12);
  // A previous process spent $0.95 today and $2.50 this month.
  backend().restore_spend("key_a", t, usd_to_nanos(0.95), usd_to_nanos(2.50));
  EXPECT_EQ(spend(t).today_nano_usd, 950'000'000);
  EXPECT_EQ(spend(t).month_nano_usd, 2'500'000'000);
  admitted(take(t, 10, 0.05)).settle(10, 0.05);
  EXPECT_EQ(refused(take(t, 10, 0.01)).limit, LimitKind::kUsdPerDay);
  // Tomorrow the day is fresh, the month is not: $0.45 left of it.
  const int64_t tomorrow = utc_ms(2024, 3, 11, 1);
  admitted(take(tomorrow, 10, 0.45)).settle(10, 0.45);
  EXPECT_EQ(refused(take(tomorrow, 10, 0.01)).limit, LimitKind::kUsdPerMonth);
  EXPECT_EQ(spend(utc_ms(2024, 4, 1)).month_nano_usd, 0);
}

TEST_P(LimitsTest, OfSeveralRefusingLimitsTheOneThatFreesLastIsNamed) {
  limits_.requests_per_minute = 1;
  limits_.usd_per_month = 1.0;
  const int64_t t = utc_ms(2024, 5, 31);
  admitted(take(t, 10, 1.0)).settle(10, 1.0);
  const LimitRefusal r = refused(take(t + 1000, 10, 0.5));
  EXPECT_EQ(r.limit, LimitKind::kUsdPerMonth);
  EXPECT_EQ(r.retry_after_s, 86400 - 1);
}

TEST_P(LimitsTest, DroppedReservationSettlesToWhatWasReportedElseToTheWorstCase) {
  limits_.usd_per_day = 10.0;
  const int64_t t = utc_ms(2024, 3, 10, 12);
  { Reservation forgotten = admitted(take(t, 1000, 1.0)); }
  KeySpend s = spend(t);
  EXPECT_EQ(s.today_nano_usd, 1'000'000'000);  // never zero
  EXPECT_EQ(s.tokens, 1000);
  EXPECT_EQ(s.released_unsettled, 1);
  {
    Reservation stream = admitted(take(t, 1000, 1.0));
    stream.report(100, 0.1);
    stream.report(250, 0.25);  // cumulative: the last report counts
  }                            // the client went away mid-stream
  s = spend(t);
  EXPECT_EQ(s.today_nano_usd, 1'250'000'000);
  EXPECT_EQ(s.tokens, 1250);
  EXPECT_EQ(s.released_unsettled, 2);
  EXPECT_EQ(s.in_flight, 0);
}

TEST_P(LimitsTest, SettleIsOnceAndMovesCarryTheReservation) {
  limits_.usd_per_day = 10.0;
  const int64_t t = utc_ms(2024, 3, 10, 12);
  Reservation r = admitted(take(t, 100, 1.0));
  Reservation moved = std::move(r);
  EXPECT_FALSE(r.active());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(moved.active());
  moved.settle(40, 0.4);
  moved.settle(100, 1.0);  // ignored
  EXPECT_EQ(spend(t).today_nano_usd, 400'000'000);

  Reservation a = admitted(take(t, 100, 1.0));
  Reservation b = admitted(take(t, 100, 2.0));
  a.report(10, 0.25);
  a = std::move(b);  // the reservation a held is released at what it reported
  EXPECT_EQ(spend(t).today_nano_usd, 650'000'000);
  a.settle(0, 0.0);
  const KeySpend s = spend(t);
  EXPECT_EQ(s.today_nano_usd, 650'000'000);
  EXPECT_EQ(s.released_unsettled, 1);
  EXPECT_EQ(s.in_flight, 0);
}

TEST_P(LimitsTest, SettlingAboveTheReservationChargesInFullAndIsCounted) {
  limits_.tokens_per_minute = 1000;
  admitted(take(0, 100, 0.01)).settle(150, 0.02);
  const KeySpend s = spend(0);
  EXPECT_EQ(s.window_tokens, 150);
  EXPECT_EQ(s.nano_usd, 20'000'000);
  EXPECT_EQ(s.settled_over_reserved, 1);
}

TEST_P(LimitsTest, LimitsChangedAtRunTimeApplyToTheNextRequest) {
  limits_.requests_per_minute = 1;
  admitted(take(0)).settle(1, 0);
  refused(take(1));
  limits_.requests_per_minute = 2;
  admitted(take(2)).settle(1, 0);
  refused(take(3));
}

TEST_P(LimitsTest, AClockThatStepsBackNeverRefunds) {
  limits_.requests_per_minute = 1;
  admitted(take(100'000)).settle(1, 0);
  refused(take(50'000));  // earlier than what was seen: the entry still counts
  refused(take(159'999));
  admitted(take(160'000)).settle(1, 0);
}

TEST_P(LimitsTest, UnlimitedKeysAreCountedButKeepNoWindow) {
  Reservation r = admitted(take(0, 100, 0.5));
  EXPECT_EQ(r.ticket().window_seq, 0u);
  r.settle(80, 0.4);
  const KeySpend s = spend(0);
  EXPECT_EQ(s.requests, 1);
  EXPECT_EQ(s.tokens, 80);
  EXPECT_EQ(s.nano_usd, 400'000'000);
  EXPECT_EQ(s.window_requests, 0);
}

TEST_P(LimitsTest, SpendOfUnknownKeysIsZeroAndAllSpendListsEveryKey) {
  EXPECT_EQ(backend().spend("key_nobody", 0).requests, 0);
  admitted(take(0, 1, 0.25)).settle(1, 0.25);
  admitted(reserve(backend(), "key_b", "team-b", limits_, 0, 1, 0.5)).settle(1, 0.5);
  const auto all = backend().all_spend(0);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].key_id, "key_a");
  EXPECT_EQ(all[0].key_name, "team-a");
  EXPECT_EQ(all[0].nano_usd, 250'000'000);
  EXPECT_EQ(all[1].key_name, "team-b");
  EXPECT_EQ(all[1].nano_usd, 500'000'000);
}

TEST_P(LimitsTest, ForgottenKeysStartAfreshAndLateSettlesAreHarmless) {
  limits_.requests_per_minute = 1;
  Reservation r = admitted(take(0));
  forget("key_a");
  r.settle(5, 0.1);
  EXPECT_EQ(spend(0).requests, 0);
  admitted(take(1)).settle(1, 0);
}

TEST(LimitsErrorTest, RateLimitMessageNamesLimitKeyAndRetryAfter) {
  LimitRefusal r;
  r.limit = LimitKind::kRequestsPerMinute;
  r.key_name = "team-a";
  r.retry_after_s = 12;
  r.limit_value = 60;
  r.in_use = 60;
  r.requested = 1;
  const Error e = limit_error(r);
  EXPECT_EQ(e.code, ErrorCode::kRateLimited);
  EXPECT_EQ(e.message,
            "API key 'team-a' is over its requests_per_minute limit (60 requests per minute); "
            "retry after 12 s");
  EXPECT_EQ(e.internal, "requests_per_minute: limit=60 in_use=60 requested=1");
  EXPECT_EQ(limit_name(LimitKind::kTokensPerMinute), "tokens_per_minute");
  EXPECT_EQ(limit_name(LimitKind::kUsdPerMonth), "usd_per_month");

  r.limit = LimitKind::kUsdPerDay;
  r.never_fits = true;
  r.limit_value = 2'500'000;  // $0.0025
  r.requested = 3'000'000;
  EXPECT_THAT(limit_error(r).message, HasSubstr("up to $0.003 (prompt + max_tokens)"));
  EXPECT_THAT(limit_error(r).message, HasSubstr("($0.0025 per UTC day, usd_per_day)"));
}

}  // namespace
}  // namespace triage::control

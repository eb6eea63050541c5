#include "control/retry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "test_time.h"

namespace triage::control {
namespace {

using testing::utc_ms;

UpstreamFailure status(int code) {
  UpstreamFailure f;
  f.kind = FailureKind::kHttpStatus;
  f.http_status = code;
  return f;
}
UpstreamFailure of_kind(FailureKind kind) {
  UpstreamFailure f;
  f.kind = kind;
  return f;
}

TEST(RetryPolicyTest, RetryableFailuresAreExactlyTheTransientOnes) {
  EXPECT_TRUE(is_retryable(of_kind(FailureKind::kConnect)));
  EXPECT_TRUE(is_retryable(of_kind(FailureKind::kReset)));
  for (int code : {429, 500, 502, 503, 504}) EXPECT_TRUE(is_retryable(status(code))) << code;
  for (int code : {400, 401, 403, 404, 408, 413, 422, 501, 505}) {
    EXPECT_FALSE(is_retryable(status(code))) << code;
  }
  EXPECT_FALSE(is_retryable(of_kind(FailureKind::kTimeout)));
  EXPECT_FALSE(is_retryable(of_kind(FailureKind::kMalformed)));
  UpstreamFailure mid_stream = of_kind(FailureKind::kReset);
  mid_stream.client_saw_bytes = true;
  EXPECT_FALSE(is_retryable(mid_stream));
}

TEST(RetryPolicyTest, BreakerCountsServerSideFailuresAndNotClientErrors) {
  EXPECT_TRUE(counts_against_breaker(of_kind(FailureKind::kConnect)));
  EXPECT_TRUE(counts_against_breaker(of_kind(FailureKind::kTimeout)));
  EXPECT_TRUE(counts_against_breaker(of_kind(FailureKind::kMalformed)));
  EXPECT_TRUE(counts_against_breaker(status(429)));
  EXPECT_TRUE(counts_against_breaker(status(503)));
  EXPECT_FALSE(counts_against_breaker(status(400)));
  EXPECT_FALSE(counts_against_breaker(status(404)));
}

TEST(RetryPolicyTest, FullJitterStaysUnderTheGrowingCeilingAndCoversIt) {
  RetryOptions options;  // 250 ms base, 4 s cap
  SeededRandom rng(7);
  const std::vector<int64_t> ceilings = {250, 500, 1000, 2000, 4000, 4000, 4000};
  for (std::size_t n = 0; n < ceilings.size(); ++n) {
    int64_t lo = INT64_MAX, hi = 0;
    double sum = 0;
    for (int i = 0; i < 4000; ++i) {
      const int64_t d = backoff_ms(options, static_cast<int>(n), rng);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
      sum += static_cast<double>(d);
    }
    EXPECT_LE(hi, ceilings[n]) << n;
    EXPECT_GE(hi, ceilings[n] * 95 / 100) << n;
    EXPECT_LE(lo, ceilings[n] * 5 / 100) << n;
    EXPECT_NEAR(sum / 4000, ceilings[n] / 2.0, ceilings[n] * 0.05) << n;  // uniform
  }
}

class RetryDecisionTest : public ::testing::Test {
 protected:
  RetryDecision decide(const UpstreamFailure& f, int retries_done, int64_t deadline_ms,
                       RetryBudget* budget = nullptr, int64_t expected_attempt_ms = 0) {
    return decide_retry(options_, f, retries_done, 0, deadline_ms, expected_attempt_ms, rng_,
                        budget);
  }
  RetryOptions options_;
  SeededRandom rng_{42};
};

TEST_F(RetryDecisionTest, SaysWhyNot) {
  UpstreamFailure streamed = status(503);
  streamed.client_saw_bytes = true;
  EXPECT_EQ(decide(streamed, 0, 60'000).reason, NoRetryReason::kStreamStarted);
  EXPECT_EQ(decide(status(400), 0, 60'000).reason, NoRetryReason::kNotRetryable);
  EXPECT_EQ(decide(status(503), 2, 60'000).reason, NoRetryReason::kAttemptsExhausted);
  EXPECT_EQ(no_retry_reason_name(NoRetryReason::kStreamStarted), "stream_started");
  EXPECT_EQ(no_retry_reason_name(NoRetryReason::kBudgetExhausted), "budget_exhausted");
  EXPECT_EQ(no_retry_reason_name(NoRetryReason::kDeadline), "deadline");

  const RetryDecision yes = decide(status(503), 1, 60'000);
  EXPECT_TRUE(yes.retry);
  EXPECT_EQ(yes.reason, NoRetryReason::kNone);
  EXPECT_LE(yes.delay_ms, 500);
}

TEST_F(RetryDecisionTest, HonoursRetryAfterUnlessItIsTooLong) {
  UpstreamFailure limited = status(429);
  limited.retry_after_ms = 3'000;
  const RetryDecision d = decide(limited, 0, 60'000);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.delay_ms, 3'000);
  EXPECT_TRUE(d.from_retry_after);

  limited.retry_after_ms = 0;  // "retry now": the jittered backoff still applies
  const RetryDecision now = decide(limited, 0, 60'000);
  EXPECT_TRUE(now.retry);
  EXPECT_LE(now.delay_ms, 250);

  limited.retry_after_ms = 25'000;
  EXPECT_EQ(decide(limited, 0, 60'000).reason, NoRetryReason::kRetryAfterTooLong);
}

TEST_F(RetryDecisionTest, NeverRetriesWhatCannotFinishBeforeTheDeadline) {
  UpstreamFailure limited = status(429);
  limited.retry_after_ms = 600;
  EXPECT_EQ(decide(limited, 0, 1'000).reason, NoRetryReason::kDeadline);  // 600 + 500 > 1000
  EXPECT_TRUE(decide(limited, 0, 1'100).retry);
  // The expected attempt time (e.g. the deployment's latency average) counts when larger.
  EXPECT_EQ(decide(limited, 0, 5'000, nullptr, 8'000).reason, NoRetryReason::kDeadline);
}

TEST_F(RetryDecisionTest, BudgetIsSpentOnlyByRetriesThatHappen) {
  ManualWallClock clock(0);
  RetryBudget budget(RetryBudgetOptions{}, clock);  // no calls yet: the floor of 3
  UpstreamFailure late = status(503);
  late.retry_after_ms = 10'000;
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(decide(late, 0, 1'000, &budget).reason, NoRetryReason::kDeadline);
  EXPECT_EQ(budget.usage().retries, 0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(decide(status(503), 0, 60'000, &budget).retry);
  EXPECT_EQ(decide(status(503), 0, 60'000, &budget).reason, NoRetryReason::kBudgetExhausted);
}

TEST(RetryBudgetTest, AllowsAShareOfCallsWithAFloor) {
  ManualWallClock clock(1'000'000);
  RetryBudgetOptions options;  // 20%, floor 3, 10 s window
  RetryBudget budget(options, clock);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(budget.try_spend());
  EXPECT_FALSE(budget.try_spend());
  for (int i = 0; i < 100; ++i) budget.record_call();
  EXPECT_EQ(budget.usage().allowed, 20);
  int more = 0;
  while (budget.try_spend()) ++more;
  EXPECT_EQ(more, 17);
  const RetryBudget::Usage u = budget.usage();
  EXPECT_EQ(u.calls, 100);
  EXPECT_EQ(u.retries, 20);
}

TEST(RetryBudgetTest, TheWindowSlides) {
  ManualWallClock clock(1'000'000);
  RetryBudget budget(RetryBudgetOptions{}, clock);
  for (int i = 0; i < 50; ++i) budget.record_call();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(budget.try_spend());
  EXPECT_FALSE(budget.try_spend());
  clock.advance_ms(10'000);  // a whole window later: old calls and retries are gone
  EXPECT_EQ(budget.usage().calls, 0);
  EXPECT_EQ(budget.usage().retries, 0);
  EXPECT_TRUE(budget.try_spend());
}

TEST(RetryBudgetTest, ConcurrentRetriesCannotOverspendTheBudget) {
  ManualWallClock clock(1'000'000);
  RetryBudget budget(RetryBudgetOptions{}, clock);
  for (int i = 0; i < 100; ++i) budget.record_call();
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (budget.try_spend()) granted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 20);
}

TEST(RetryAfterTest, DelaySecondsAndRetryAfterMs) {
  EXPECT_EQ(parse_retry_after("120", 0), 120'000);
  EXPECT_EQ(parse_retry_after(" 5 ", 0), 5'000);
  EXPECT_EQ(parse_retry_after("0", 0), 0);
  EXPECT_EQ(parse_retry_after("1.5", 0), 1'500);
  EXPECT_EQ(parse_retry_after("", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("-5", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("5", 0, "250"), 250);      // retry-after-ms wins
  EXPECT_EQ(parse_retry_after("5", 0, "12.2"), 13);      // rounded up
  EXPECT_EQ(parse_retry_after("5", 0, "later"), 5'000);  // unusable: fall back
  EXPECT_EQ(parse_retry_after("", 0, "40"), 40);
}

TEST(RetryAfterTest, AllThreeHttpDateForms) {
  const int64_t at = utc_ms(1994, 11, 6, 8, 49, 37);
  const int64_t now = at - 7'000;
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 7'000);
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 7'000);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), 7'000);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 60'000), 0);  // past
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", utc_ms(2015, 10, 21, 7, 27)),
            60'000);
}

TEST(RetryAfterTest, MalformedDatesAreIgnored) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sat, 31 Feb 2024 00:00:00 GMT", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT trailing", 0), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", 0), std::nullopt);
}

}  // namespace
}  // namespace triage::control

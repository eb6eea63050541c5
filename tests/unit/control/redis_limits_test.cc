// The Redis backend beyond the cases it shares with the in-memory one (limits_test.cc): several
// replicas on one Redis, Redis going away and coming back, scripts flushed, the URL's secret.
#include "control/redis_limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "support/redis_server.h"
#include "test_time.h"

namespace triage::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::utc_ms;

RedisLimitOptions fast_reconnect() {
  RedisLimitOptions o;
  o.client.reconnect_interval_ms = 50;
  o.client.connect_timeout_ms = 200;
  return o;
}

class RedisLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = triage::testing::RedisServer::start();
    if (!redis_) GTEST_SKIP() << triage::testing::RedisServer::kMissing;
  }
  std::unique_ptr<RedisLimitBackend> replica(RedisLimitOptions options = fast_reconnect()) {
    return std::make_unique<RedisLimitBackend>(RedisUrl::parse(redis_->url()).value(), options);
  }
  // Reserves until Redis answers again (the client reconnects by itself): bounded.
  static bool admitted_within(LimitBackend& b, const KeyLimits& limits, int64_t now) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = reserve(b, "key_a", "team-a", limits, now, 10, 0.01);
      if (auto* held = std::get_if<Reservation>(&r); held && !held->ticket().uncounted) {
        held->settle(10, 0.01);
        return true;
      }
      if (auto* refused = std::get_if<LimitRefusal>(&r); refused && !refused->backend_unavailable)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::unique_ptr<triage::testing::RedisServer> redis_;
};

// Two replicas, 16 threads each, one key: the fleet admits exactly the limit, never more.
TEST_F(RedisLimitsTest, TwoReplicasShareOneKeysLimitsExactlyUnderContention) {
  auto a = replica();
  auto b = replica();
  KeyLimits limits;
  limits.requests_per_minute = 300;
  limits.usd_per_day = 2.0;  // 200 requests of $0.01 settled at their worst case
  const int64_t now = utc_ms(2024, 3, 10, 12);
  std::atomic<int64_t> admitted{0};
  std::atomic<int64_t> refused_unavailable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&, t] {
      LimitBackend& backend = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < 20; ++i) {
        auto r = reserve(backend, "key_a", "team-a", limits, now, 10, 0.01);
        if (auto* held = std::get_if<Reservation>(&r)) {
          admitted.fetch_add(1);
          held->settle(10, 0.01);
        } else if (std::get<LimitRefusal>(r).backend_unavailable) {
          refused_unavailable.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  a->flush();
  b->flush();
  const int64_t overshoot = admitted.load() - 200;
  EXPECT_EQ(overshoot, 0) << "admitted " << admitted.load() << " of 640 tried, budget fits 200";
  EXPECT_EQ(refused_unavailable.load(), 0);
  const KeySpend s = a->spend("key_a", now);
  EXPECT_EQ(s.today_nano_usd, 2'000'000'000);
  EXPECT_EQ(s.requests, 200);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(b->spend("key_a", now).window_requests, 200);
}

TEST_F(RedisLimitsTest, TwoReplicasShareRequestsPerMinuteExactly) {
  auto a = replica();
  auto b = replica();
  KeyLimits limits;
  limits.requests_per_minute = 150;
  std::atomic<int64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      LimitBackend& backend = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < 25; ++i) {
        auto r = reserve(backend, "key_a", "team-a", limits, 1'000 + i, 1, 0.0);
        if (auto* held = std::get_if<Reservation>(&r)) {
          admitted.fetch_add(1);
          held->settle(1, 0.0);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 150);  // 400 tried
}

TEST_F(RedisLimitsTest, RedisAwayFailsClosedOrOpenAsConfiguredAndRecovers) {
  auto backend = replica();
  KeyLimits closed;
  closed.requests_per_minute = 100;
  closed.on_backend_error = OnBackendError::kClosed;
  KeyLimits open = closed;
  open.on_backend_error = OnBackendError::kOpen;
  KeyLimits by_default = closed;
  by_default.on_backend_error = OnBackendError::kDefault;  // the backend's default: closed
  const int64_t now = utc_ms(2024, 3, 10, 12);
  ASSERT_TRUE(admitted_within(*backend, closed, now));

  redis_->kill_now();
  auto refused = reserve(*backend, "key_a", "team-a", closed, now, 10, 0.01);
  ASSERT_TRUE(std::holds_alternative<LimitRefusal>(refused));
  const LimitRefusal& r = std::get<LimitRefusal>(refused);
  EXPECT_TRUE(r.backend_unavailable);
  const Error e = limit_error(r);
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_THAT(e.message, HasSubstr("limit store for API key 'team-a' is unreachable"));
  EXPECT_THAT(e.message, Not(HasSubstr("127.0.0.1")));
  EXPECT_TRUE(std::holds_alternative<LimitRefusal>(
      reserve(*backend, "key_a", "team-a", by_default, now, 10, 0.01)));

  auto let_in = reserve(*backend, "key_a", "team-a", open, now, 10, 0.01);
  ASSERT_TRUE(std::holds_alternative<Reservation>(let_in));
  Reservation uncounted = std::get<Reservation>(std::move(let_in));
  EXPECT_TRUE(uncounted.ticket().uncounted);
  uncounted.settle(10, 0.01);  // nothing to settle: not parked, not lost

  RedisLimitBackend::Stats stats = backend->stats();
  EXPECT_EQ(stats.refused_unavailable, 2);
  EXPECT_EQ(stats.admitted_uncounted, 1);
  EXPECT_FALSE(stats.client.connected);

  ASSERT_TRUE(redis_->restart());
  EXPECT_TRUE(admitted_within(*backend, closed, now));
  stats = backend->stats();
  EXPECT_TRUE(stats.client.connected);
  EXPECT_GE(stats.client.connects, 2);
  EXPECT_EQ(stats.settles_lost, 0);
}

TEST_F(RedisLimitsTest, ASettleWhileRedisIsAwayWaitsAndIsSentWhenItIsBack) {
  auto backend = replica();
  KeyLimits limits;
  limits.usd_per_day = 10.0;
  const int64_t now = utc_ms(2024, 3, 10, 12);
  auto held = reserve(*backend, "key_a", "team-a", limits, now, 10, 1.0);
  ASSERT_TRUE(std::holds_alternative<Reservation>(held));
  redis_->kill_now();
  std::get<Reservation>(held).settle(10, 0.5);
  backend->flush();
  EXPECT_EQ(backend->stats().client.parked, 1);  // held, not failed
  ASSERT_TRUE(redis_->restart());
  // The restarted Redis has no data (no persistence): the parked settle finds no reservation
  // and changes nothing, and is neither lost nor counted twice.
  EXPECT_TRUE(admitted_within(*backend, limits, now));
  backend->flush();
  EXPECT_EQ(backend->stats().client.parked, 0);
  EXPECT_EQ(backend->stats().settles_lost, 0);
  EXPECT_EQ(backend->spend("key_a", now).today_nano_usd, 10'000'000);  // admitted_within's
}

TEST_F(RedisLimitsTest, ASettleSentTwiceCountsOnce) {
  auto backend = replica();
  KeyLimits limits;
  limits.usd_per_day = 10.0;
  const int64_t now = utc_ms(2024, 3, 10, 12);
  auto held = reserve(*backend, "key_a", "team-a", limits, now, 10, 1.0);
  ASSERT_TRUE(std::holds_alternative<Reservation>(held));
  const ReservationTicket ticket = std::get<Reservation>(held).ticket();
  backend->settle(ticket, 10, 300'000'000, false);
  backend->settle(ticket, 10, 300'000'000, false);  // a resend after a lost reply
  std::get<Reservation>(held).settle(10, 0.3);      // and the holder's own
  const KeySpend s = backend->spend("key_a", now);
  EXPECT_EQ(s.today_nano_usd, 300'000'000);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.in_flight_nano_usd, 0);
}

// A replica dies holding a reservation (no settle ever comes): once its lease has run out, the
// key's next reserve on any replica charges it in full to the day it was reserved in and frees
// its in-flight money, instead of holding it until the month ends.
TEST_F(RedisLimitsTest, AReservationOfADeadReplicaIsChargedInFullWhenItsLeaseRunsOut) {
  RedisLimitOptions options = fast_reconnect();
  options.reservation_lease_ms = 60'000;
  auto dead = replica(options);
  auto alive = replica(options);
  KeyLimits limits;
  limits.usd_per_day = 1.0;
  const int64_t now = utc_ms(2024, 3, 10, 12);
  ReserveRequest worst{"key_a", "team-a", limits, now, 100, 800'000'000};  // $0.80 worst case
  ReserveOutcome held = dead->reserve(worst);
  ASSERT_TRUE(std::holds_alternative<ReservationTicket>(held));
  dead.reset();  // died: its ticket is never settled

  // Within the lease the reservation still counts: $0.30 more does not fit under $1.
  KeyLimits tight = limits;
  auto refused = reserve(*alive, "key_a", "team-a", tight, now + 30'000, 10, 0.30);
  ASSERT_TRUE(std::holds_alternative<LimitRefusal>(refused));
  EXPECT_EQ(alive->spend("key_a", now + 30'000).in_flight, 1);

  // Past it the next reserve charges it ($0.80 settled), frees it, and admits $0.10.
  auto admitted = reserve(*alive, "key_a", "team-a", tight, now + 61'000, 10, 0.10);
  ASSERT_TRUE(std::holds_alternative<Reservation>(admitted));
  std::get<Reservation>(admitted).settle(10, 0.10);
  const KeySpend s = alive->spend("key_a", now + 61'000);
  EXPECT_EQ(s.reservations_expired, 1);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.in_flight_nano_usd, 0);
  EXPECT_EQ(s.today_nano_usd, 900'000'000);
  EXPECT_EQ(s.tokens, 110);

  // A reservation that is settled, or renewed by an extend, is never charged by its lease.
  ReserveOutcome live = alive->reserve({"key_b", "team-b", limits, now, 10, 100'000'000});
  ASSERT_TRUE(std::holds_alternative<ReservationTicket>(live));
  ReservationTicket ticket = std::get<ReservationTicket>(live);
  ASSERT_FALSE(alive->extend(ticket, {"key_b", "team-b", limits, now + 50'000, 10, 1'000'000})
                   .has_value());
  ASSERT_TRUE(std::holds_alternative<ReservationTicket>(
      alive->reserve({"key_b", "team-b", limits, now + 70'000, 1, 1})));  // lease renewed at 50 s
  EXPECT_EQ(alive->spend("key_b", now + 70'000).reservations_expired, 0);
  alive->settle(ticket, 10, 50'000'000, false);
  ASSERT_TRUE(std::holds_alternative<ReservationTicket>(
      alive->reserve({"key_b", "team-b", limits, now + 200'000, 1, 1})));
  const KeySpend b = alive->spend("key_b", now + 200'000);
  EXPECT_EQ(b.reservations_expired, 1);  // only the 1-nano probe of 70 s, never settled
  EXPECT_EQ(b.today_nano_usd, 50'000'000 + 1);
  EXPECT_EQ(b.in_flight, 1);  // the probe of 200 s, inside its lease
}

TEST_F(RedisLimitsTest, FlushedScriptsAreLoadedAgain) {
  auto backend = replica();
  KeyLimits limits;
  limits.requests_per_minute = 5;
  const int64_t now = utc_ms(2024, 3, 10, 12);
  ASSERT_TRUE(admitted_within(*backend, limits, now));
  ASSERT_EQ(redis_->command({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_TRUE(admitted_within(*backend, limits, now));
  EXPECT_GE(backend->stats().client.script_reloads, 1);
  EXPECT_EQ(backend->spend("key_a", now).window_requests, 2);
}

TEST_F(RedisLimitsTest, RestoredSpendIsNotCountedTwiceWhenRedisAlreadyHasIt) {
  auto a = replica();
  auto b = replica();
  const int64_t now = utc_ms(2024, 3, 10, 12);
  // Both replicas start and restore the same stored spend: Redis counts it once.
  a->restore_spend("key_a", now, usd_to_nanos(0.5), usd_to_nanos(2.0));
  b->restore_spend("key_a", now, usd_to_nanos(0.5), usd_to_nanos(2.0));
  const KeySpend s = a->spend("key_a", now);
  EXPECT_EQ(s.today_nano_usd, 500'000'000);
  EXPECT_EQ(s.month_nano_usd, 2'000'000'000);
}

// Restoring raises a counter that holds less than the store's sum and never adds: a Redis that
// kept its counters is left alone, one that lost part of them is brought up to the store's.
TEST_F(RedisLimitsTest, RestoreRaisesACounterBelowTheStoresSumAndNeverAdds) {
  auto a = replica();
  KeyLimits limits;
  limits.usd_per_day = 100.0;
  const int64_t now = utc_ms(2024, 3, 10, 12);
  auto r = reserve(*a, "key_a", "team-a", limits, now, 10, 0.30);
  ASSERT_TRUE(std::holds_alternative<Reservation>(r));
  std::get<Reservation>(r).settle(10, 0.30);
  a->flush();
  a->restore_spend("key_a", now, usd_to_nanos(0.10), usd_to_nanos(0.10));  // Redis has more
  EXPECT_EQ(a->spend("key_a", now).today_nano_usd, 300'000'000);
  a->restore_spend("key_a", now, usd_to_nanos(0.50), usd_to_nanos(1.50));  // Redis has less
  const KeySpend s = a->spend("key_a", now);
  EXPECT_EQ(s.today_nano_usd, 500'000'000);
  EXPECT_EQ(s.month_nano_usd, 1'500'000'000);
}

// A restarted Redis (no persistence: its counters are gone) is noticed as a reconnect, and
// only a reconnect runs the hook: the first connect does not.
TEST_F(RedisLimitsTest, AReconnectAfterARestartRunsTheHookOnce) {
  auto a = replica();
  std::atomic<int> calls{0};
  a->set_reconnect_hook([&] { calls.fetch_add(1); });
  KeyLimits limits;
  limits.requests_per_minute = 1000;
  const int64_t now = utc_ms(2024, 3, 10, 12);
  ASSERT_TRUE(admitted_within(*a, limits, now));
  EXPECT_EQ(calls.load(), 0) << "the first connect is not a reconnect";
  redis_->kill_now();
  ASSERT_TRUE(redis_->restart());
  ASSERT_TRUE(admitted_within(*a, limits, now));
  EXPECT_EQ(calls.load(), 1);
  a->set_reconnect_hook(nullptr);
  redis_->kill_now();
  ASSERT_TRUE(redis_->restart());
  ASSERT_TRUE(admitted_within(*a, limits, now));
  EXPECT_EQ(calls.load(), 1) << "a cleared hook is not called";
}

TEST_F(RedisLimitsTest, KeysCarryThePrefixAndTheKeyIdOnly) {
  RedisLimitOptions options = fast_reconnect();
  options.key_prefix = "fleet1:";
  auto backend = replica(options);
  KeyLimits limits;
  limits.requests_per_minute = 5;
  ASSERT_TRUE(admitted_within(*backend, limits, utc_ms(2024, 3, 10, 12)));
  EXPECT_EQ(redis_->command({"EXISTS", "fleet1:{key_a}:s"}), "1");
}

TEST(RedisUrlTest, ParsesAndNeverShowsThePassword) {
  Result<RedisUrl> url = RedisUrl::parse("redis://:s3cret@cache.internal:6380/2");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_EQ(url->host, "cache.internal");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2);
  EXPECT_EQ(url->password, "s3cret");
  EXPECT_EQ(url->redacted(), "redis://:***@cache.internal:6380/2");
  EXPECT_EQ(RedisUrl::parse("redis://localhost")->port, 6379);
  Result<RedisUrl> bad = RedisUrl::parse("redis://:s3cret@host:notaport");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("bad port"));
  EXPECT_THAT(bad.error().message, Not(HasSubstr("s3cret")));
  EXPECT_FALSE(RedisUrl::parse("http://host:6379"));
}

}  // namespace
}  // namespace triage::control

#include "cache/response_cache.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

namespace triage::cache {
namespace {

namespace asio = boost::asio;

AnswerPtr answer(const std::string& text, double cost = 0.01) {
  auto a = std::make_shared<CachedAnswer>();
  a->completion.content = text;
  a->model = std::string("m");  // not = "m": GCC 12 -Wrestrict false positive (PR 105329)
  a->cost_usd = cost;
  return a;
}

config::CacheConfig entries(int64_t n, int64_t ttl_s = 60) {
  config::CacheConfig c;
  c.max_entries = n;
  c.ttl_s = ttl_s;
  return c;
}

TEST(ResponseCache, EvictsTheLeastRecentlyUsedEntryOverTheEntryBound) {
  ResponseCache c(entries(2));
  c.put("a", answer("A"), 0);
  c.put("b", answer("B"), 0);
  ASSERT_NE(c.get("a", 1), nullptr);  // a is now the most recently used
  c.put("c", answer("C"), 2);
  EXPECT_EQ(c.get("b", 3), nullptr);  // b was the least recently used
  ASSERT_NE(c.get("a", 3), nullptr);
  EXPECT_EQ(c.get("a", 3)->completion.content, "A");
  EXPECT_NE(c.get("c", 3), nullptr);
  EXPECT_EQ(c.stats().entries, 2);
  EXPECT_EQ(c.stats().evictions, 1);
}

TEST(ResponseCache, EntriesExpireAfterTheTtl) {
  ResponseCache c(entries(10, /*ttl_s=*/5));
  c.put("a", answer("A"), 1000);
  EXPECT_NE(c.get("a", 5999), nullptr);
  EXPECT_EQ(c.get("a", 6000), nullptr);
  EXPECT_EQ(c.stats().entries, 0);  // dropped when found expired
}

TEST(ResponseCache, ReplacingAnEntryRefreshesItsAge) {
  ResponseCache c(entries(10, 5));
  c.put("a", answer("old"), 0);
  c.put("a", answer("new"), 4000);
  ASSERT_NE(c.get("a", 8000), nullptr);
  EXPECT_EQ(c.get("a", 8000)->completion.content, "new");
  EXPECT_EQ(c.stats().entries, 1);
}

TEST(ResponseCache, TheByteBoundHoldsAcrossShards) {
  config::CacheConfig cfg;
  cfg.max_bytes = 64 * 1024;
  ResponseCache c(cfg, 16);
  const std::string text(1000, 'x');
  for (int i = 0; i < 1000; ++i) {
    std::string key = std::to_string(i);  // (not "k" + to_string: GCC 12 -Wrestrict false alarm)
    key.append("k");
    c.put(key, answer(text), i);
  }
  EXPECT_LE(c.stats().bytes, cfg.max_bytes);
  EXPECT_GT(c.stats().entries, 10);
  EXPECT_GT(c.stats().evictions, 0);
  // An answer larger than a shard's share is not stored at all.
  c.put("huge", answer(std::string(100 * 1024, 'y')), 2000);
  EXPECT_EQ(c.get("huge", 2000), nullptr);
}

TEST(ResponseCache, FollowersGetTheLeadersAnswerAcrossThreads) {
  ResponseCache c(entries(10));
  asio::io_context leader_io, follower_io;
  auto far = SteadyClock::now() + std::chrono::seconds(30);
  std::shared_ptr<ResponseCache::Flight> lead;
  asio::co_spawn(leader_io, [&]() -> asio::awaitable<void> {
    ResponseCache::Joined j = co_await c.join("k", 0, far);
    lead = j.lead;
  }, asio::detached);
  leader_io.run();
  ASSERT_NE(lead, nullptr);
  constexpr int kFollowers = 5;
  int got = 0;
  for (int i = 0; i < kFollowers; ++i) {
    asio::co_spawn(follower_io, [&]() -> asio::awaitable<void> {
      ResponseCache::Joined j = co_await c.join("k", 0, far);
      EXPECT_EQ(j.lead, nullptr);
      if (j.answer && j.answer->completion.content == "shared") ++got;
    }, asio::detached);
  }
  follower_io.poll();  // every follower is now waiting
  EXPECT_EQ(c.stats().in_flight, 1);
  std::thread landing([&] { c.land(lead, answer("shared"), 1); });
  landing.join();
  follower_io.restart();
  follower_io.run();
  EXPECT_EQ(got, kFollowers);
  EXPECT_EQ(c.stats().in_flight, 0);
  EXPECT_NE(c.get("k", 2), nullptr);  // stored too
}

TEST(ResponseCache, WhenTheLeaderFailsFollowersGetNothingAndNothingIsStored) {
  ResponseCache c(entries(10));
  asio::io_context io;
  auto far = SteadyClock::now() + std::chrono::seconds(30);
  std::optional<FlightLeader> leader;
  int empty = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    ResponseCache::Joined j = co_await c.join("k", 0, far);
    leader.emplace(c, j.lead);
  }, asio::detached);
  io.run();
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      ResponseCache::Joined j = co_await c.join("k", 0, far);
      if (!j.lead && !j.answer) ++empty;
    }, asio::detached);
  }
  io.restart();
  io.poll();
  leader.reset();  // the leader failed: its guard lands empty
  io.restart();
  io.run();
  EXPECT_EQ(empty, 3);
  EXPECT_EQ(c.get("k", 1), nullptr);
  // The key is free again: the next request leads.
  bool leads = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    ResponseCache::Joined j = co_await c.join("k", 0, far);
    leads = j.lead != nullptr;
    if (j.lead) c.land(j.lead, nullptr, 0);
  }, asio::detached);
  io.restart();
  io.run();
  EXPECT_TRUE(leads);
}

TEST(ResponseCache, AFollowerStopsWaitingAtItsDeadline) {
  ResponseCache c(entries(10));
  asio::io_context io;
  std::shared_ptr<ResponseCache::Flight> lead;
  bool gave_up = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    lead = (co_await c.join("k", 0, SteadyClock::now() + std::chrono::seconds(30))).lead;
    ResponseCache::Joined j = co_await c.join("k", 0, SteadyClock::now());
    gave_up = !j.lead && !j.answer;
  }, asio::detached);
  io.run();
  EXPECT_TRUE(gave_up);
  c.land(lead, answer("late"), 0);  // no follower left to wake
  EXPECT_NE(c.get("k", 0), nullptr);
}

}  // namespace
}  // namespace triage::cache

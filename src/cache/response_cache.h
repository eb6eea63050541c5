#pragma once
// An exact-match cache of complete answers (docs/cache.md), one per route or model that has
// `cache:`. Bounded by entries and/or bytes with least-recently-used eviction, entries live
// `ttl_s`, and concurrent identical requests are coalesced: the first one (the leader) goes
// upstream, the others (followers) wait for its answer (join/land).
//
// Threading: every method is thread-safe; the keys are spread over shards, each with its own
// mutex, so I/O threads rarely contend. A follower waits on a timer of its own executor, which
// the leader's thread wakes with a post (as routes::ConcurrencyGate does).
#include <array>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "core/chat.h"

namespace triage::cache {

// A cached answer: what a hit sends the client again and what its trace records.
struct CachedAnswer {
  core::Completion completion;
  std::string model;  // the catalog model that produced it, and its tier and provider
  std::string tier;
  std::string provider;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  bool tokens_estimated = false;
  double cost_usd = 0.0;  // what it cost when it was made: what each hit saves

  std::size_t bytes() const;  // memory it holds, approximately (what max_bytes bounds)
};
using AnswerPtr = std::shared_ptr<const CachedAnswer>;

struct CacheStats {
  int64_t entries = 0;
  int64_t bytes = 0;
  int64_t evictions = 0;  // entries dropped for the bounds (not for age)
  int64_t in_flight = 0;  // keys whose leader has not landed
};

class ResponseCache {
 public:
  class Flight;
  // One request's part in coalescing (join()): either the leader (`lead` set: go upstream and
  // land() the answer), or a follower that got the leader's answer, or null when the leader
  // failed or the wait reached the deadline (then go upstream yourself).
  struct Joined {
    std::shared_ptr<Flight> lead;
    AnswerPtr answer;
  };

  // `shards` = 0: one shard when the entry bound is small (so LRU is exact), 16 otherwise.
  explicit ResponseCache(const config::CacheConfig& cfg, std::size_t shards = 0);
  ~ResponseCache();
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  // The entry under `key` stored less than ttl_s before `now_ms` (steady milliseconds), or
  // null. A hit makes the entry the most recently used.
  AnswerPtr get(const std::string& key, int64_t now_ms);
  // Stores (or replaces) the entry, then evicts least recently used entries over the bounds.
  // An answer larger than a shard's byte bound is not stored.
  void put(const std::string& key, AnswerPtr answer, int64_t now_ms);

  // Coalescing. Checks the cache again, then makes the caller the leader of `key` or a
  // follower of the leader in flight, which waits for it until `deadline`.
  boost::asio::awaitable<Joined> join(const std::string& key, int64_t now_ms,
                                      SteadyTime deadline);
  // The leader's end: `answer` (null: the leader failed; followers go upstream themselves)
  // goes to every follower and, when not null, into the cache. Once per flight.
  void land(const std::shared_ptr<Flight>& flight, AnswerPtr answer, int64_t now_ms);

  CacheStats stats() const;
  const config::CacheConfig& config() const { return cfg_; }

 private:
  struct Shard;
  Shard& shard_of(const std::string& key);

  const config::CacheConfig cfg_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

// Lands a leader's flight exactly once: with the answer (land()), or empty when it goes out of
// scope first (the leader failed, was refused or threw), so followers never wait for nothing.
class FlightLeader {
 public:
  FlightLeader(ResponseCache& cache, std::shared_ptr<ResponseCache::Flight> flight)
      : cache_(cache), flight_(std::move(flight)) {}
  FlightLeader(const FlightLeader&) = delete;
  FlightLeader& operator=(const FlightLeader&) = delete;
  ~FlightLeader();
  void land(AnswerPtr answer, int64_t now_ms);

 private:
  ResponseCache& cache_;
  std::shared_ptr<ResponseCache::Flight> flight_;
};

}  // namespace triage::cache

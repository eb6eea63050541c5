#pragma once
// The LimitBackend shared by every replica: the same reserve / settle / extend as the in-memory
// backend (memory_limits.h: same units, integer nano-USD, the same sliding 60 s log for RPM and
// TPM, the same UTC day and month budgets, the same refusals), kept in Redis so that N replicas
// hold one key's limits exactly together. Each of reserve, settle, extend, spend, restore and
// forget is ONE Lua script (EVALSHA; loaded at connect, loaded again on NOSCRIPT), so it is atomic
// in Redis whatever the other replicas do. The script decides; it returns the usage it decided
// on and this class builds the refusal from it with the in-memory backend's own checks
// (limit_checks.h).
//
// Keys, for a key id ID (never a secret) under `key_prefix` P, all in one hash slot ({ID}):
//   P{ID}:s            hash: latest time seen, reservation counter, totals, refusals, name
//   P{ID}:w, P{ID}:wt  the 60 s log: zset seq -> time, hash seq -> tokens (+ "sum")
//   P{ID}:r            hash seq -> "tokens nano day month" of each reservation in flight;
//                      settle deletes the entry, so a settle replayed after a lost connection
//                      counts once
//   P{ID}:rl           zset seq -> lease end (ms): a reservation still there past its lease
//                      (its replica died before settling) is charged in full by the key's next
//                      reserve or extend (KeySpend::reservations_expired)
//   P{ID}:d:DAY, P{ID}:m:MONTH  hash settled / in_flight nano-USD of a UTC day / month; they
//                      expire an hour after their period ends
// The log expires a minute after its last entry, the state and in-flight hashes 40 days after
// the key's last request.
//
// Clock: callers pass now, as for the in-memory backend; Redis keeps the latest time any replica
// passed and never goes back from it (replicas' clocks should agree within a second or so).
//
// Threading: thread-safe. reserve_async/extend_async complete on the client thread
// (redis_client.h); settle() queues and returns at once; a settle that cannot be sent waits for
// Redis to come back (bounded, counted in settles_lost when dropped). The blocking calls
// (reserve, extend, spend, all_spend, restore_spend, forget) wait for Redis: never call them on
// an I/O thread.
//
// Redis away: a reserve or extend that gets no answer follows the key's on_backend_error (its
// KeyLimits, else `default_on_error`): open admits the request uncounted, closed refuses it
// (LimitRefusal::backend_unavailable, a 503). Both are counted in stats() and logged at most
// once per log interval; the client reconnects by itself.
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "control/limits.h"
#include "control/redis_client.h"

namespace triage::control {

struct RedisLimitOptions {
  // Prepended to every Redis key this backend writes: several gateways (or fleets) can share a
  // Redis by using different prefixes.
  std::string key_prefix = "triage:limits:";
  // What a key whose limits say kDefault does when Redis is away. Closed: a Redis outage must
  // not lift every budget (docs/security.md).
  OnBackendError default_on_error = OnBackendError::kClosed;
  int64_t error_log_interval_ms = 10'000;
  // How long a reservation may stay unsettled before it is taken for the reservation of a dead
  // replica and charged in full (extend renews it). Longer than any request: a request that
  // outlives it is charged its worst case at expiry and its settle then counts nothing.
  int64_t reservation_lease_ms = 3'600'000;
  RedisClientOptions client;
};

class RedisLimitBackend final : public LimitBackend {
 public:
  // Starts the client thread; does not wait for a connection (check_connection() does).
  RedisLimitBackend(RedisUrl url, RedisLimitOptions options);
  ~RedisLimitBackend() override;

  bool completes_inline() const override { return false; }
  ReserveOutcome reserve(const ReserveRequest& request) override;
  void reserve_async(OwnedReserveRequest request,
                     std::function<void(ReserveOutcome)> done) override;
  void settle(const ReservationTicket& ticket, int64_t actual_tokens, NanoUsd actual_nano_usd,
              bool unsettled) override;
  std::optional<LimitRefusal> extend(ReservationTicket& ticket,
                                     const ReserveRequest& more) override;
  void extend_async(
      ReservationTicket ticket, OwnedReserveRequest more,
      std::function<void(ReservationTicket, std::optional<LimitRefusal>)> done) override;
  // Fleet-wide usage as Redis holds it ("since start" is since the key's first request in this
  // Redis). Zeros when Redis does not answer.
  KeySpend spend(std::string_view key_id, int64_t now_unix_ms) const override;
  // The keys this process has seen (Redis is not scanned).
  std::vector<KeySpend> all_spend(int64_t now_unix_ms) const override;
  // Raises a period's settled spend to the store's sum when Redis holds less (a fresh,
  // restarted or flushed Redis): never adds, since counters that already live in Redis include
  // that spend.
  void restore_spend(std::string_view key_id, int64_t now_unix_ms, NanoUsd day,
                     NanoUsd month) override;
  void forget(std::string_view key_id) override;
  // `hook` runs on the Redis client's thread after every reconnect (not the first connect): a
  // restarted Redis may have lost its counters. It must not block (post the work elsewhere).
  void set_reconnect_hook(std::function<void()> hook) override;

  // One round trip (PING): ok, or why Redis cannot be reached. For start-up checks.
  Result<void> check_connection();
  // Waits until every command queued before the call has completed (tests, shutdown).
  void flush() { client_.drain(); }

  struct Stats {
    int64_t admitted_uncounted = 0;   // Redis away, key fails open
    int64_t refused_unavailable = 0;  // Redis away, key fails closed
    int64_t settles_lost = 0;         // settles that never reached Redis (dropped or refused)
    RedisClient::Stats client;
  };
  Stats stats() const;
  const RedisUrl& url() const { return client_.url(); }
  const RedisLimitOptions& options() const { return options_; }

 private:
  struct Keys;
  Keys keys_for(std::string_view key_id) const;
  ReserveOutcome reserve_outcome(const OwnedReserveRequest& r, const Result<RedisValue>& reply);
  std::optional<LimitRefusal> extend_outcome(ReservationTicket& ticket,
                                             const OwnedReserveRequest& more,
                                             const Result<RedisValue>& reply);
  // Redis did not answer: counts and logs (rate-limited); the refusal when the key fails closed.
  std::optional<LimitRefusal> unavailable(const OwnedReserveRequest& r, const Error& why);
  void count_refusal(std::string_view key_id, LimitKind kind);
  void remember(std::string_view key_id);

  const RedisLimitOptions options_;
  mutable RedisClient client_;  // internally locked; spend() is a read
  const RedisClient::Script* reserve_script_;
  const RedisClient::Script* settle_script_;
  const RedisClient::Script* extend_script_;
  const RedisClient::Script* spend_script_;
  const RedisClient::Script* restore_script_;
  const RedisClient::Script* forget_script_;

  std::atomic<int64_t> admitted_uncounted_{0};
  std::atomic<int64_t> refused_unavailable_{0};
  std::atomic<int64_t> settles_lost_{0};
  std::mutex log_mu_;
  int64_t last_error_log_ms_ = INT64_MIN / 2;  // guarded by log_mu_; steady ms
  mutable std::mutex seen_mu_;
  std::set<std::string> seen_;  // guarded by seen_mu_: key ids this process reserved for
};

}  // namespace triage::control

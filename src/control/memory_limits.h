#pragma once
// The in-process LimitBackend: exact for one gateway process. Several replicas share one limit
// through control/redis_limits.h (the same reserve/settle as Lua scripts in Redis).
//
// Windows. Requests and tokens per minute use an exact sliding log: each admitted request is an
// entry (time, tokens) kept for 60 s, and a request is admitted when the entries in
// (now - 60 s, now] plus itself fit. No bucketing error: the limit holds over every 60 s span.
// Memory per key is one entry per request admitted in the last minute (bounded by the RPM
// limit, or by the TPM limit over the smallest request), and only while the key has an RPM or
// TPM limit. Budgets use UTC calendar periods (utc_calendar.h).
//
// Thread safety: all methods are thread-safe. Each key has its own mutex (a reserve is a few
// comparisons and additions under it); the key table takes a shared lock to find a key and an
// exclusive one only to add a key the first time it is seen.
//
// Clock: callers pass now. A clock that steps backwards never refunds: entries newer than
// "now" stay counted and a period never moves back.
#include <deque>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "control/limits.h"

namespace triage::control {

class InMemoryLimitBackend final : public LimitBackend {
 public:
  static constexpr int64_t kWindowMs = 60'000;

  InMemoryLimitBackend();
  ~InMemoryLimitBackend() override;

  std::variant<ReservationTicket, LimitRefusal> reserve(const ReserveRequest& request) override;
  void settle(const ReservationTicket& ticket, int64_t actual_tokens, NanoUsd actual_nano_usd,
              bool unsettled) override;
  KeySpend spend(std::string_view key_id, int64_t now_unix_ms) const override;
  std::vector<KeySpend> all_spend(int64_t now_unix_ms) const override;
  void restore_spend(std::string_view key_id, int64_t now_unix_ms, NanoUsd day,
                     NanoUsd month) override;
  std::optional<LimitRefusal> extend(ReservationTicket& ticket,
                                     const ReserveRequest& more) override;

  void forget(std::string_view key_id) override;

 private:
  struct KeyState;
  std::shared_ptr<KeyState> find(std::string_view key_id) const;
  std::shared_ptr<KeyState> find_or_add(std::string_view key_id);

  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };

  mutable std::shared_mutex table_mu_;
  // guarded by table_mu_; looked up by string_view without a copy
  std::unordered_map<std::string, std::shared_ptr<KeyState>, IdHash, std::equal_to<>> keys_;
};

}  // namespace triage::control

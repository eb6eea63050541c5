#include "control/memory_limits.h"

#include <algorithm>
#include <climits>
#include <mutex>
#include <optional>

#include "control/limit_checks.h"
#include "control/utc_calendar.h"

namespace triage::control {

struct InMemoryLimitBackend::KeyState {
  struct Entry {
    int64_t at_ms;
    int64_t tokens;
  };
  struct Period {
    int64_t index = INT64_MIN;
    NanoUsd settled = 0;
    NanoUsd in_flight = 0;
  };

  std::mutex mu;
  // Everything below is guarded by mu.
  std::string name;
  int64_t latest_ms = INT64_MIN;  // the clock never goes back inside the limiter
  std::deque<Entry> window;       // admitted in (latest - 60 s, latest], oldest first
  uint64_t first_seq = 1;         // window_seq of window.front()
  int64_t window_tokens = 0;
  Period day;
  Period month;
  KeySpend totals;

  // Moves the state to `now`: expires window entries, starts a new UTC day or month. Returns
  // the effective time (never earlier than any time seen before).
  int64_t advance(int64_t now_ms) {
    latest_ms = std::max(latest_ms, now_ms);
    while (!window.empty() && window.front().at_ms <= latest_ms - kWindowMs) {
      window_tokens -= window.front().tokens;
      window.pop_front();
      ++first_seq;
    }
    roll(day, utc_day_index(latest_ms));
    roll(month, utc_month_index(latest_ms));
    return latest_ms;
  }

  static void roll(Period& p, int64_t index) {
    if (index > p.index) p = Period{index, 0, 0};
  }

  Entry* entry(uint64_t seq) {
    if (seq < first_seq || seq - first_seq >= window.size()) return nullptr;
    return &window[seq - first_seq];
  }
};

using detail::check_budget;
using detail::refusal;
using detail::reports_before;

InMemoryLimitBackend::InMemoryLimitBackend() = default;
InMemoryLimitBackend::~InMemoryLimitBackend() = default;

std::shared_ptr<InMemoryLimitBackend::KeyState> InMemoryLimitBackend::find(
    std::string_view key_id) const {
  std::shared_lock lock(table_mu_);
  auto it = keys_.find(key_id);
  return it == keys_.end() ? nullptr : it->second;
}

std::shared_ptr<InMemoryLimitBackend::KeyState> InMemoryLimitBackend::find_or_add(
    std::string_view key_id) {
  if (auto state = find(key_id)) return state;
  std::unique_lock lock(table_mu_);
  auto& slot = keys_[std::string(key_id)];
  if (!slot) {
    slot = std::make_shared<KeyState>();
    slot->totals.key_id = std::string(key_id);
  }
  return slot;
}

void InMemoryLimitBackend::restore_spend(std::string_view key_id, int64_t now_unix_ms, NanoUsd day,
                                         NanoUsd month) {
  const std::shared_ptr<KeyState> state = find_or_add(key_id);
  std::lock_guard lock(state->mu);
  state->advance(now_unix_ms);
  state->day.settled += std::max<NanoUsd>(day, 0);
  state->month.settled += std::max<NanoUsd>(month, 0);
}

std::variant<ReservationTicket, LimitRefusal> InMemoryLimitBackend::reserve(
    const ReserveRequest& r) {
  const std::shared_ptr<KeyState> state = find_or_add(r.key_id);
  KeyState& s = *state;
  std::lock_guard lock(s.mu);
  const int64_t now = s.advance(r.now_unix_ms);
  if (s.name != r.key_name) s.name.assign(r.key_name);
  const KeyLimits& limits = r.limits;

  std::optional<LimitRefusal> worst;
  auto consider = [&](std::optional<LimitRefusal> candidate) {
    if (candidate && (!worst || reports_before(*candidate, *worst))) worst = std::move(candidate);
  };
  const auto in_window = static_cast<int64_t>(s.window.size());
  if (limits.requests_per_minute > 0 && in_window + 1 > limits.requests_per_minute) {
    LimitRefusal out =
        refusal(LimitKind::kRequestsPerMinute, r, limits.requests_per_minute, in_window, 1);
    // The entry whose expiry brings the count below the limit.
    const auto& frees = s.window[static_cast<std::size_t>(in_window - limits.requests_per_minute)];
    out.retry_after_s = retry_after_seconds(now, frees.at_ms + kWindowMs);
    consider(std::move(out));
  }
  if (limits.tokens_per_minute > 0 && s.window_tokens + r.tokens > limits.tokens_per_minute) {
    LimitRefusal out = refusal(LimitKind::kTokensPerMinute, r, limits.tokens_per_minute,
                               s.window_tokens, r.tokens);
    if (r.tokens > limits.tokens_per_minute) {
      out.never_fits = true;
    } else {
      const int64_t must_free = s.window_tokens + r.tokens - limits.tokens_per_minute;
      int64_t freed = 0;
      int64_t at = now + kWindowMs;
      for (const auto& e : s.window) {
        freed += e.tokens;
        if (freed >= must_free) {
          at = e.at_ms + kWindowMs;
          break;
        }
      }
      out.retry_after_s = retry_after_seconds(now, at);
    }
    consider(std::move(out));
  }
  consider(check_budget(LimitKind::kUsdPerDay, r, usd_to_nanos(limits.usd_per_day), s.day.settled,
                        s.day.in_flight, now, next_utc_day_start_ms(now)));
  consider(check_budget(LimitKind::kUsdPerMonth, r, usd_to_nanos(limits.usd_per_month),
                        s.month.settled, s.month.in_flight, now, next_utc_month_start_ms(now)));
  if (worst) {
    ++s.totals.refused[static_cast<std::size_t>(worst->limit)];
    return std::move(*worst);
  }

  ReservationTicket ticket;
  ticket.key_id = std::string(r.key_id);
  if (limits.requests_per_minute > 0 || limits.tokens_per_minute > 0) {
    s.window.push_back({now, r.tokens});
    s.window_tokens += r.tokens;
    ticket.window_seq = s.first_seq + s.window.size() - 1;
  }
  s.day.in_flight += r.nano_usd;
  s.month.in_flight += r.nano_usd;
  ticket.day = s.day.index;
  ticket.month = s.month.index;
  ticket.tokens = r.tokens;
  ticket.nano_usd = r.nano_usd;
  ticket.handle = state;  // settle needs no second look-up in the key table
  ++s.totals.requests;
  ++s.totals.in_flight;
  s.totals.in_flight_nano_usd += r.nano_usd;
  return ticket;
}

std::optional<LimitRefusal> InMemoryLimitBackend::extend(ReservationTicket& t,
                                                         const ReserveRequest& r) {
  const std::shared_ptr<KeyState> state =
      t.handle ? std::static_pointer_cast<KeyState>(t.handle) : find_or_add(t.key_id);
  KeyState& s = *state;
  std::lock_guard lock(s.mu);
  const int64_t now = s.advance(r.now_unix_ms);
  const KeyLimits& limits = r.limits;
  KeyState::Entry* entry = t.window_seq != 0 ? s.entry(t.window_seq) : nullptr;

  std::optional<LimitRefusal> worst;
  auto consider = [&](std::optional<LimitRefusal> candidate) {
    if (candidate && (!worst || reports_before(*candidate, *worst))) worst = std::move(candidate);
  };
  if (limits.tokens_per_minute > 0 && entry &&
      s.window_tokens + r.tokens > limits.tokens_per_minute) {
    LimitRefusal out = refusal(LimitKind::kTokensPerMinute, r, limits.tokens_per_minute,
                               s.window_tokens, r.tokens);
    out.retry_after_s = retry_after_seconds(now, entry->at_ms + kWindowMs);
    consider(std::move(out));
  }
  // A period that ended since the reservation owes nothing more (as in settle); the new one
  // is not charged for a request that started before it.
  if (s.day.index == t.day) {
    consider(check_budget(LimitKind::kUsdPerDay, r, usd_to_nanos(limits.usd_per_day), s.day.settled,
                          s.day.in_flight, now, next_utc_day_start_ms(now)));
  }
  if (s.month.index == t.month) {
    consider(check_budget(LimitKind::kUsdPerMonth, r, usd_to_nanos(limits.usd_per_month),
                          s.month.settled, s.month.in_flight, now, next_utc_month_start_ms(now)));
  }
  if (worst) {
    ++s.totals.refused[static_cast<std::size_t>(worst->limit)];
    return worst;
  }
  if (entry) {
    entry->tokens += r.tokens;
    s.window_tokens += r.tokens;
  }
  if (s.day.index == t.day) s.day.in_flight += r.nano_usd;
  if (s.month.index == t.month) s.month.in_flight += r.nano_usd;
  t.tokens += r.tokens;
  t.nano_usd += r.nano_usd;
  s.totals.in_flight_nano_usd += r.nano_usd;
  return std::nullopt;
}

void InMemoryLimitBackend::settle(const ReservationTicket& t, int64_t actual_tokens,
                                  NanoUsd actual_nano_usd, bool unsettled) {
  // A key forgotten meanwhile settles into its orphaned state: harmless.
  const std::shared_ptr<KeyState> state =
      t.handle ? std::static_pointer_cast<KeyState>(t.handle) : find(t.key_id);
  if (!state) return;
  KeyState& s = *state;
  std::lock_guard lock(s.mu);
  if (KeyState::Entry* e = t.window_seq != 0 ? s.entry(t.window_seq) : nullptr) {
    s.window_tokens += actual_tokens - e->tokens;
    e->tokens = actual_tokens;
  }
  for (KeyState::Period* p : {&s.day, &s.month}) {
    const int64_t reserved_in = p == &s.day ? t.day : t.month;
    if (p->index != reserved_in) continue;  // that period is over; the new one owes nothing
    p->in_flight -= t.nano_usd;
    p->settled += actual_nano_usd;
  }
  s.totals.tokens += actual_tokens;
  s.totals.nano_usd += actual_nano_usd;
  --s.totals.in_flight;
  s.totals.in_flight_nano_usd -= t.nano_usd;
  if (actual_tokens > t.tokens || actual_nano_usd > t.nano_usd) ++s.totals.settled_over_reserved;
  if (unsettled) ++s.totals.released_unsettled;
}

KeySpend InMemoryLimitBackend::spend(std::string_view key_id, int64_t now_unix_ms) const {
  const std::shared_ptr<KeyState> state = find(key_id);
  if (!state) {
    KeySpend none;
    none.key_id = std::string(key_id);
    return none;
  }
  KeyState& s = *state;
  std::lock_guard lock(s.mu);
  KeySpend out = s.totals;
  out.key_name = s.name;
  const int64_t now = std::max(s.latest_ms, now_unix_ms);
  out.today_nano_usd = utc_day_index(now) == s.day.index ? s.day.settled : 0;
  out.month_nano_usd = utc_month_index(now) == s.month.index ? s.month.settled : 0;
  for (const auto& e : s.window) {
    if (e.at_ms <= now - kWindowMs) continue;
    ++out.window_requests;
    out.window_tokens += e.tokens;
  }
  return out;
}

std::vector<KeySpend> InMemoryLimitBackend::all_spend(int64_t now_unix_ms) const {
  std::vector<std::string> ids;
  {
    std::shared_lock lock(table_mu_);
    ids.reserve(keys_.size());
    for (const auto& [id, state] : keys_) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<KeySpend> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back(spend(id, now_unix_ms));
  return out;
}

void InMemoryLimitBackend::forget(std::string_view key_id) {
  std::unique_lock lock(table_mu_);
  if (auto it = keys_.find(key_id); it != keys_.end()) keys_.erase(it);
}

}  // namespace triage::control

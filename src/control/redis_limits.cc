#include "control/redis_limits.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>

#include "control/limit_checks.h"
#include "control/redis_limit_scripts.h"
#include "control/utc_calendar.h"

namespace triage::control {

namespace {

constexpr int64_t kWindowMs = 60'000;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A reply that is not what the script returns: a Redis error (OOM, a script bug) or no answer.
std::optional<Error> bad_reply(const Result<RedisValue>& reply, std::size_t min_elements) {
  if (!reply) return reply.error();
  if (reply->type == RedisValue::Type::kError) {
    return make_error(ErrorCode::kUnavailable, "the limit store (Redis) failed",
                      "redis: " + reply->text);
  }
  if (reply->type != RedisValue::Type::kArray || reply->elements.size() < min_elements) {
    return make_error(ErrorCode::kUnavailable, "the limit store (Redis) failed",
                      "redis: unexpected reply shape");
  }
  return std::nullopt;
}

// The usage a refusing script decided on (the refused shape in redis_limit_scripts.h).
struct Snapshot {
  int64_t now = 0;
  int64_t in_window = 0;
  int64_t window_tokens = 0;
  int64_t rpm_free_at = 0;
  int64_t tpm_free_at = 0;
  NanoUsd day_settled = 0;
  NanoUsd day_in_flight = 0;
  NanoUsd month_settled = 0;
  NanoUsd month_in_flight = 0;

  static Snapshot from(const RedisValue& v) {
    const auto at = [&](std::size_t i) { return v.elements[i].as_int(); };
    return Snapshot{at(1), at(4), at(5), at(6), at(7), at(8), at(9), at(10), at(11)};
  }
};

std::vector<std::string> limit_args(const KeyLimits& l) {
  return {std::to_string(l.requests_per_minute), std::to_string(l.tokens_per_minute),
          std::to_string(usd_to_nanos(l.usd_per_day)),
          std::to_string(usd_to_nanos(l.usd_per_month))};
}

}  // namespace

struct RedisLimitBackend::Keys {
  std::string base;
  std::vector<std::string> list() const {
    return {base + ":s", base + ":w", base + ":wt", base + ":r", base + ":rl"};
  }
};

RedisLimitBackend::RedisLimitBackend(RedisUrl url, RedisLimitOptions options)
    : options_(std::move(options)), client_(std::move(url), options_.client) {
  reserve_script_ = client_.add_script(redis_scripts::reserve());
  settle_script_ = client_.add_script(redis_scripts::settle());
  extend_script_ = client_.add_script(redis_scripts::extend());
  spend_script_ = client_.add_script(redis_scripts::spend());
  restore_script_ = client_.add_script(redis_scripts::restore());
  forget_script_ = client_.add_script(redis_scripts::forget());
  client_.start();
}

RedisLimitBackend::~RedisLimitBackend() {
  client_.drain();  // queued settles go out before the client stops
  client_.stop();
}

RedisLimitBackend::Keys RedisLimitBackend::keys_for(std::string_view key_id) const {
  return Keys{options_.key_prefix + "{" + std::string(key_id) + "}"};
}

Result<void> RedisLimitBackend::check_connection() {
  Result<RedisValue> pong = client_.submit_sync({"PING"});
  if (!pong) return pong.error();
  if (pong->type == RedisValue::Type::kError) {
    return make_error(ErrorCode::kUnavailable, "the limit store (Redis) failed", pong->text);
  }
  return {};
}

void RedisLimitBackend::remember(std::string_view key_id) {
  std::lock_guard lock(seen_mu_);
  if (seen_.find(std::string(key_id)) == seen_.end()) seen_.emplace(key_id);
}

std::optional<LimitRefusal> RedisLimitBackend::unavailable(const OwnedReserveRequest& r,
                                                           const Error& why) {
  OnBackendError policy = r.limits.on_backend_error;
  if (policy == OnBackendError::kDefault) policy = options_.default_on_error;
  const bool open = policy == OnBackendError::kOpen;
  (open ? admitted_uncounted_ : refused_unavailable_).fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(log_mu_);
    const int64_t now = steady_ms();
    if (now - last_error_log_ms_ >= options_.error_log_interval_ms) {
      last_error_log_ms_ = now;
      spdlog::warn(
          "limits: Redis {} unreachable ({}); since start {} request(s) admitted uncounted "
          "(on_redis_error: open), {} refused with 503 (on_redis_error: closed)",
          client_.url().redacted(), why.internal.empty() ? why.message : why.internal,
          admitted_uncounted_.load(), refused_unavailable_.load());
    }
  }
  if (open) return std::nullopt;
  LimitRefusal out;
  out.key_name = r.key_name;
  out.backend_unavailable = true;
  out.retry_after_s = 1;
  return out;
}

void RedisLimitBackend::count_refusal(std::string_view key_id, LimitKind kind) {
  client_.submit({"HINCRBY", keys_for(key_id).base + ":s",
                  "refused" + std::to_string(static_cast<int>(kind)), "1"},
                 [](Result<RedisValue>) {});
}

ReserveOutcome RedisLimitBackend::reserve(const ReserveRequest& request) {
  std::promise<ReserveOutcome> promise;
  std::future<ReserveOutcome> future = promise.get_future();
  reserve_async(OwnedReserveRequest::from(request),
                [&promise](ReserveOutcome outcome) { promise.set_value(std::move(outcome)); });
  return future.get();
}

void RedisLimitBackend::reserve_async(OwnedReserveRequest request,
                                      std::function<void(ReserveOutcome)> done) {
  remember(request.key_id);
  const Keys keys = keys_for(request.key_id);
  std::vector<std::string> args = {keys.base, std::to_string(request.now_unix_ms), request.key_name,
                                   std::to_string(request.tokens),
                                   std::to_string(request.nano_usd)};
  for (std::string& a : limit_args(request.limits)) args.push_back(std::move(a));
  args.push_back(std::to_string(options_.reservation_lease_ms));
  auto owned = std::make_shared<OwnedReserveRequest>(std::move(request));
  client_.run(reserve_script_, keys.list(), std::move(args),
              [this, owned, done = std::move(done)](Result<RedisValue> reply) {
                done(reserve_outcome(*owned, reply));
              });
}

ReserveOutcome RedisLimitBackend::reserve_outcome(const OwnedReserveRequest& r,
                                                  const Result<RedisValue>& reply) {
  // No usable answer: the key's on_backend_error decides.
  const auto away = [&](const Error& why) -> ReserveOutcome {
    if (std::optional<LimitRefusal> refused = unavailable(r, why)) return std::move(*refused);
    ReservationTicket open;
    open.key_id = r.key_id;
    open.tokens = r.tokens;
    open.nano_usd = r.nano_usd;
    open.uncounted = true;
    return open;
  };
  if (std::optional<Error> e = bad_reply(reply, 5)) return away(*e);
  const RedisValue& v = *reply;
  if (v.elements[0].as_int() == 1) {
    ReservationTicket ticket;
    ticket.key_id = r.key_id;
    ticket.day = v.elements[2].as_int();
    ticket.month = v.elements[3].as_int();
    ticket.reservation_id = static_cast<uint64_t>(v.elements[4].as_int());
    const KeyLimits& l = r.limits;
    if (l.requests_per_minute > 0 || l.tokens_per_minute > 0)
      ticket.window_seq = ticket.reservation_id;
    ticket.tokens = r.tokens;
    ticket.nano_usd = r.nano_usd;
    return ticket;
  }
  if (std::optional<Error> e = bad_reply(reply, 12)) {
    return away(*e);
  }
  const Snapshot snap = Snapshot::from(v);
  const ReserveRequest req = r.view();
  const KeyLimits& limits = r.limits;
  detail::WorstRefusal worst;
  if (limits.requests_per_minute > 0 && snap.in_window + 1 > limits.requests_per_minute) {
    LimitRefusal out = detail::refusal(LimitKind::kRequestsPerMinute, req,
                                       limits.requests_per_minute, snap.in_window, 1);
    out.retry_after_s = retry_after_seconds(snap.now, snap.rpm_free_at);
    worst.consider(std::move(out));
  }
  if (limits.tokens_per_minute > 0 && snap.window_tokens + r.tokens > limits.tokens_per_minute) {
    LimitRefusal out = detail::refusal(LimitKind::kTokensPerMinute, req, limits.tokens_per_minute,
                                       snap.window_tokens, r.tokens);
    if (r.tokens > limits.tokens_per_minute) {
      out.never_fits = true;
    } else {
      out.retry_after_s = retry_after_seconds(snap.now, snap.tpm_free_at);
    }
    worst.consider(std::move(out));
  }
  worst.consider(detail::check_budget(LimitKind::kUsdPerDay, req, usd_to_nanos(limits.usd_per_day),
                                      snap.day_settled, snap.day_in_flight, snap.now,
                                      next_utc_day_start_ms(snap.now)));
  worst.consider(detail::check_budget(
      LimitKind::kUsdPerMonth, req, usd_to_nanos(limits.usd_per_month), snap.month_settled,
      snap.month_in_flight, snap.now, next_utc_month_start_ms(snap.now)));
  if (!worst.get()) {
    // The script and these checks disagree: a bug. Refuse rather than admit uncounted.
    Error bug = make_error(ErrorCode::kInternal, "limit check mismatch", "redis reserve mismatch");
    return away(bug);
  }
  count_refusal(r.key_id, worst.get()->limit);
  return std::move(*worst.get());
}

void RedisLimitBackend::settle(const ReservationTicket& t, int64_t actual_tokens,
                               NanoUsd actual_nano_usd, bool unsettled) {
  if (t.uncounted) return;  // admitted while Redis was away: there is nothing to settle
  const Keys keys = keys_for(t.key_id);
  std::vector<std::string> args = {keys.base,
                                   std::to_string(t.reservation_id),
                                   std::to_string(t.day),
                                   std::to_string(t.month),
                                   std::to_string(actual_tokens),
                                   std::to_string(actual_nano_usd),
                                   unsettled ? "1" : "0"};
  // Kept while Redis is away and sent when it is back: a settle is idempotent (the script
  // deletes the reservation it settles), so a resend after a lost reply counts once.
  client_.run(
      settle_script_, keys.list(), std::move(args),
      [this](Result<RedisValue> reply) {
        if (!reply || reply->type == RedisValue::Type::kError) {
          settles_lost_.fetch_add(1, std::memory_order_relaxed);
          spdlog::warn("limits: a settle was lost ({}); its reservation stays counted in flight",
                       reply ? reply->text : reply.error().internal);
        }
      },
      /*keep_while_away=*/true);
}

std::optional<LimitRefusal> RedisLimitBackend::extend(ReservationTicket& ticket,
                                                      const ReserveRequest& more) {
  std::promise<std::pair<ReservationTicket, std::optional<LimitRefusal>>> promise;
  auto future = promise.get_future();
  extend_async(ticket, OwnedReserveRequest::from(more),
               [&promise](ReservationTicket grown, std::optional<LimitRefusal> refused) {
                 promise.set_value({std::move(grown), std::move(refused)});
               });
  auto [grown, refused] = future.get();
  ticket = std::move(grown);
  return refused;
}

void RedisLimitBackend::extend_async(
    ReservationTicket ticket, OwnedReserveRequest more,
    std::function<void(ReservationTicket, std::optional<LimitRefusal>)> done) {
  if (ticket.uncounted) {
    done(std::move(ticket), std::nullopt);
    return;
  }
  const Keys keys = keys_for(ticket.key_id);
  std::vector<std::string> args = {keys.base, std::to_string(more.now_unix_ms),
                                   std::to_string(ticket.reservation_id),
                                   std::to_string(more.tokens), std::to_string(more.nano_usd)};
  const std::vector<std::string> limits = limit_args(more.limits);
  args.insert(args.end(), limits.begin() + 1, limits.end());  // no requests per minute
  args.push_back(std::to_string(ticket.day));
  args.push_back(std::to_string(ticket.month));
  args.push_back(std::to_string(options_.reservation_lease_ms));
  struct State {
    ReservationTicket ticket;
    OwnedReserveRequest more;
  };
  auto state = std::make_shared<State>(State{std::move(ticket), std::move(more)});
  client_.run(extend_script_, keys.list(), std::move(args),
              [this, state, done = std::move(done)](Result<RedisValue> reply) {
                std::optional<LimitRefusal> refused =
                    extend_outcome(state->ticket, state->more, reply);
                done(std::move(state->ticket), std::move(refused));
              });
}

std::optional<LimitRefusal> RedisLimitBackend::extend_outcome(ReservationTicket& t,
                                                              const OwnedReserveRequest& more,
                                                              const Result<RedisValue>& reply) {
  if (std::optional<Error> e = bad_reply(reply, 4)) return unavailable(more, *e);
  const RedisValue& v = *reply;
  if (v.elements[0].as_int() == 1) {
    t.tokens += more.tokens;
    t.nano_usd += more.nano_usd;
    return std::nullopt;
  }
  if (std::optional<Error> e = bad_reply(reply, 12)) return unavailable(more, *e);
  const Snapshot snap = Snapshot::from(v);
  const ReserveRequest req = more.view();
  const KeyLimits& limits = more.limits;
  detail::WorstRefusal worst;
  if (limits.tokens_per_minute > 0 && snap.tpm_free_at > 0 &&
      snap.window_tokens + more.tokens > limits.tokens_per_minute) {
    LimitRefusal out = detail::refusal(LimitKind::kTokensPerMinute, req, limits.tokens_per_minute,
                                       snap.window_tokens, more.tokens);
    out.retry_after_s = retry_after_seconds(snap.now, snap.tpm_free_at);
    worst.consider(std::move(out));
  }
  if (v.elements[2].as_int() == t.day) {
    worst.consider(detail::check_budget(
        LimitKind::kUsdPerDay, req, usd_to_nanos(limits.usd_per_day), snap.day_settled,
        snap.day_in_flight, snap.now, next_utc_day_start_ms(snap.now)));
  }
  if (v.elements[3].as_int() == t.month) {
    worst.consider(detail::check_budget(
        LimitKind::kUsdPerMonth, req, usd_to_nanos(limits.usd_per_month), snap.month_settled,
        snap.month_in_flight, snap.now, next_utc_month_start_ms(snap.now)));
  }
  if (!worst.get()) {
    Error bug = make_error(ErrorCode::kInternal, "limit check mismatch", "redis extend mismatch");
    return unavailable(more, bug);
  }
  count_refusal(t.key_id, worst.get()->limit);
  return std::move(worst.get());
}

KeySpend RedisLimitBackend::spend(std::string_view key_id, int64_t now_unix_ms) const {
  KeySpend out;
  out.key_id = std::string(key_id);
  const Keys keys = keys_for(key_id);
  Result<RedisValue> reply =
      client_.run_sync(spend_script_, keys.list(), {keys.base, std::to_string(now_unix_ms)});
  if (bad_reply(reply, 17)) return out;
  const auto at = [&](std::size_t i) { return reply->elements[i].as_int(); };
  out.key_name = reply->elements[0].text;
  out.requests = at(1);
  out.tokens = at(2);
  out.nano_usd = at(3);
  out.in_flight = at(4);
  out.in_flight_nano_usd = at(5);
  for (std::size_t k = 0; k < kLimitKinds; ++k) out.refused[k] = at(6 + k);
  out.released_unsettled = at(10);
  out.settled_over_reserved = at(11);
  out.reservations_expired = at(12);
  out.today_nano_usd = at(13);
  out.month_nano_usd = at(14);
  out.window_requests = at(15);
  out.window_tokens = at(16);
  return out;
}

std::vector<KeySpend> RedisLimitBackend::all_spend(int64_t now_unix_ms) const {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(seen_mu_);
    ids.assign(seen_.begin(), seen_.end());  // sorted: a std::set
  }
  std::vector<KeySpend> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) out.push_back(spend(id, now_unix_ms));
  return out;
}

void RedisLimitBackend::restore_spend(std::string_view key_id, int64_t now_unix_ms, NanoUsd day,
                                      NanoUsd month) {
  const Keys keys = keys_for(key_id);
  Result<RedisValue> reply = client_.run_sync(
      restore_script_, keys.list(),
      {keys.base, std::to_string(now_unix_ms), std::to_string(std::max<NanoUsd>(day, 0)),
       std::to_string(std::max<NanoUsd>(month, 0))});
  if (std::optional<Error> e = bad_reply(reply, 2)) {
    spdlog::warn(
        "limits: could not restore key {}'s spend into Redis ({}); Redis keeps what it has", key_id,
        e->internal);
    return;
  }
  remember(key_id);
}

void RedisLimitBackend::set_reconnect_hook(std::function<void()> hook) {
  client_.set_reconnect_hook(std::move(hook));
}

void RedisLimitBackend::forget(std::string_view key_id) {
  const Keys keys = keys_for(key_id);
  Result<RedisValue> reply = client_.run_sync(forget_script_, keys.list(), {keys.base});
  if (!reply) spdlog::warn("limits: could not drop key {}'s usage from Redis", key_id);
  std::lock_guard lock(seen_mu_);
  seen_.erase(std::string(key_id));
}

RedisLimitBackend::Stats RedisLimitBackend::stats() const {
  Stats s;
  s.admitted_uncounted = admitted_uncounted_.load();
  s.refused_unavailable = refused_unavailable_.load();
  s.settles_lost = settles_lost_.load();
  s.client = client_.stats();
  return s;
}

}  // namespace triage::control

#pragma once
// Per-key limits and budgets, held exactly under concurrency by reservations.
//
// A request reserves its worst case (1 request, prompt + max_tokens tokens, the USD of those
// tokens at the dearest model it may reach) BEFORE any upstream call. The reservation counts
// against every limit while the request is in flight, so N concurrent requests can never
// together overspend; when the request ends it settles to what it really used and the unused
// part is returned. Backends (in memory: memory_limits.h; Redis, shared by replicas:
// redis_limits.h) implement one atomic reserve and one settle each.
//
// Money inside the limiter is integer nano-USD, so that sums are exact: ten requests of $0.10
// fit a $1.00 budget, no more, no fewer.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace triage::control {

using NanoUsd = int64_t;
NanoUsd usd_to_nanos(double usd);  // rounded to the nearest nano-USD; negative and NaN -> 0
double nanos_to_usd(NanoUsd nanos);

// What a limit does when its backend cannot answer (Redis unreachable): admit the request
// uncounted (open) or refuse it with a 503 (closed). kDefault: the backend's configured default
// (`limits.on_redis_error`, closed unless set). The in-memory backend always answers.
enum class OnBackendError { kDefault, kOpen, kClosed };
std::string_view on_backend_error_name(OnBackendError policy);  // "default" | "open" | "closed"

// A key's limits. 0 means unlimited (so an absent field in config is unlimited).
struct KeyLimits {
  int64_t requests_per_minute = 0;  // admitted requests in any sliding 60 s
  int64_t tokens_per_minute = 0;    // prompt + completion tokens in any sliding 60 s
  double usd_per_day = 0;           // spend per UTC calendar day
  double usd_per_month = 0;         // spend per UTC calendar month
  OnBackendError on_backend_error = OnBackendError::kDefault;
};

enum class LimitKind { kRequestsPerMinute, kTokensPerMinute, kUsdPerDay, kUsdPerMonth };
inline constexpr std::size_t kLimitKinds = 4;
// "requests_per_minute" | "tokens_per_minute" | "usd_per_day" | "usd_per_month"
std::string_view limit_name(LimitKind kind);

// Why a reservation was refused. When several limits refuse, the one that frees last is named
// (a request over both its RPM and its monthly budget is told to come back next month).
struct LimitRefusal {
  LimitKind limit = LimitKind::kRequestsPerMinute;
  std::string key_name;
  int64_t retry_after_s = 0;  // >= 1 unless never_fits
  bool never_fits = false;    // the request alone is over the limit (retrying cannot help)
  // In the limit's unit: requests, tokens or nano-USD.
  int64_t limit_value = 0;
  int64_t in_use = 0;  // used + reserved in the window or period when refused
  int64_t requested = 0;
  // Not a limit: the backend could not answer and the key's limits fail closed (503). `limit`
  // is meaningless then.
  bool backend_unavailable = false;
};
// The 429 the client sees: names the limit and the key (never its secret), says when to retry
// or what to change. Error::retry_after_s carries the refusal's (0 when the request can never
// fit), which the gateway sends as Retry-After. A backend_unavailable refusal is a 503 that
// says the limit store is unreachable (no internals) with a short Retry-After.
Error limit_error(const LimitRefusal& refusal);

// Everything a backend needs for one atomic reserve.
struct ReserveRequest {
  std::string_view key_id;
  std::string_view key_name;
  KeyLimits limits;
  int64_t now_unix_ms = 0;
  int64_t tokens = 0;    // worst case
  NanoUsd nano_usd = 0;  // worst case
};

// A ReserveRequest that owns its strings: what an asynchronous reserve carries across threads.
struct OwnedReserveRequest {
  std::string key_id;
  std::string key_name;
  KeyLimits limits;
  int64_t now_unix_ms = 0;
  int64_t tokens = 0;
  NanoUsd nano_usd = 0;

  static OwnedReserveRequest from(const ReserveRequest& r);
  ReserveRequest view() const;
};

// What settle needs to find and adjust a reservation. Opaque to callers.
struct ReservationTicket {
  std::string key_id;
  uint64_t window_seq = 0;      // the reservation's entry in the RPM/TPM window; 0 = not tracked
  uint64_t reservation_id = 0;  // the backend's own id of the reservation (Redis); 0 = none
  int64_t day = 0;              // UTC period the money was reserved in (see utc_calendar.h)
  int64_t month = 0;
  int64_t tokens = 0;
  NanoUsd nano_usd = 0;
  std::shared_ptr<void> handle;  // the backend's own reference to the key's state; may be null
  // Admitted without being counted (the backend was away and the key fails open): settle and
  // extend change nothing.
  bool uncounted = false;
};

// What a key has used, for the dashboard and metrics (`key` label). Money is settled spend
// unless the field says in flight.
struct KeySpend {
  std::string key_id;
  std::string key_name;
  int64_t requests = 0;        // admitted since start
  int64_t tokens = 0;          // settled since start
  NanoUsd nano_usd = 0;        // settled since start
  NanoUsd today_nano_usd = 0;  // settled in the current UTC day
  NanoUsd month_nano_usd = 0;  // settled in the current UTC month
  int64_t in_flight = 0;       // reservations not settled yet
  NanoUsd in_flight_nano_usd = 0;
  int64_t window_requests = 0;  // in the last 60 s (only tracked while the key has an RPM/TPM)
  int64_t window_tokens = 0;
  std::array<int64_t, kLimitKinds> refused{};  // refusals by LimitKind since start
  int64_t released_unsettled = 0;     // reservations dropped without settle() (a bug upstream)
  int64_t settled_over_reserved = 0;  // settles above the worst case (a wrong estimate)
  // Reservations charged in full when their lease ran out unsettled (the Redis backend: the
  // replica holding them died; redis_limits.h).
  int64_t reservations_expired = 0;
};

using ReserveOutcome = std::variant<ReservationTicket, LimitRefusal>;

// A store of usage that reserve/settle atomically. Implementations are thread-safe.
class LimitBackend {
 public:
  virtual ~LimitBackend() = default;
  // True when reserve() and extend() answer without waiting on anything (the in-memory backend):
  // an I/O thread calls them directly. False (Redis): an I/O thread must use reserve_async()
  // and extend_async(), which complete on the backend's own thread, and never the blocking
  // calls. settle() never waits, whatever the backend.
  virtual bool completes_inline() const { return true; }
  // reserve() without waiting: `done` runs exactly once, inline or on the backend's thread.
  virtual void reserve_async(OwnedReserveRequest request,
                             std::function<void(ReserveOutcome)> done) {
    done(reserve(request.view()));
  }
  // extend() without waiting: `done` gets the ticket (grown when it fit) and the refusal.
  virtual void extend_async(
      ReservationTicket ticket, OwnedReserveRequest more,
      std::function<void(ReservationTicket, std::optional<LimitRefusal>)> done) {
    std::optional<LimitRefusal> refused = extend(ticket, more.view());
    done(std::move(ticket), std::move(refused));
  }
  // Atomically: checks every limit of the key against its usage including reservations in
  // flight and, when all fit, counts this request in all of them; otherwise counts nothing and
  // says why. Limits may differ between calls (a key edited at run time): each call checks the
  // limits it is given against the usage recorded so far.
  virtual ReserveOutcome reserve(const ReserveRequest& request) = 0;
  // Replaces a reservation's amounts by the actual ones. Never refuses: an actual above the
  // reservation is charged in full (and counted in settled_over_reserved). Money stays in the
  // UTC day and month it was reserved in. Exactly once per ticket. `unsettled` marks a release
  // by ~Reservation rather than an explicit settle (counted in released_unsettled).
  virtual void settle(const ReservationTicket& ticket, int64_t actual_tokens,
                      NanoUsd actual_nano_usd, bool unsettled) = 0;
  // Usage as of `now_unix_ms` (a key idle since yesterday shows today's spend as 0). A key
  // never seen has all zeros.
  virtual KeySpend spend(std::string_view key_id, int64_t now_unix_ms) const = 0;
  virtual std::vector<KeySpend> all_spend(int64_t now_unix_ms) const = 0;
  // At start-up (and after set_reconnect_hook's call): spend settled in the current UTC day and
  // month (read back from the request store), so that a restart does not hand every key a fresh
  // budget. `day` is part of `month` (both are totals of their period, as the store sums them).
  // Restoring twice does not count twice: a backend that may already hold the spend (Redis)
  // raises its counters to at least these sums; the in-memory one starts empty and adds them.
  virtual void restore_spend(std::string_view key_id, int64_t now_unix_ms, NanoUsd day,
                             NanoUsd month) = 0;
  // Called (on a backend thread; must not block) when the backend's shared counters may have
  // been lost, e.g. Redis reconnected after a restart: the owner restores spend again. Pass
  // nullptr to clear before the owner goes. The in-memory backend never loses its counters.
  virtual void set_reconnect_hook(std::function<void()> hook) { (void)hook; }
  // Grows a reservation in flight by more.tokens and more.nano_usd, when the key's token and
  // money limits still fit them (more.limits, as for reserve; requests per minute are not
  // counted again): for a request whose route calls more than its first reservation covered.
  // On refusal nothing changes. Money joins the ticket's UTC period while that period lasts.
  virtual std::optional<LimitRefusal> extend(ReservationTicket& ticket,
                                             const ReserveRequest& more) = 0;
  // Drops a deleted key's usage. A reservation still in flight for it settles into nothing.
  virtual void forget(std::string_view key_id) = 0;
};

// One request's hold on its key's limits. Move-only; belongs to one request (not for
// concurrent use). The backend must outlive it.
//
// Ending: settle() with what was really used (a stream cut short settles to what was sent).
// Dropped without settle() (an error path that forgot, an exception): it settles to the last
// report() if there was one, else to the full worst case. Never to zero: forgetting to settle
// must not make a request free, and the backend counts it in released_unsettled so it shows.
class Reservation {
 public:
  Reservation() = default;
  Reservation(LimitBackend* backend, ReservationTicket ticket)
      : backend_(backend), ticket_(std::move(ticket)) {}
  Reservation(Reservation&& other) noexcept;
  Reservation& operator=(Reservation&& other) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation();

  // Cumulative usage so far (not a delta), e.g. as a stream's chunks go out.
  void report(int64_t tokens_so_far, double usd_so_far);
  // Ends the reservation; later calls do nothing.
  void settle(int64_t actual_tokens, double actual_usd);
  // Reserves more for this request (LimitBackend::extend); nullopt when it fit. An inactive
  // reservation (a key without limits) always fits.
  std::optional<LimitRefusal> extend(std::string_view key_name, const KeyLimits& limits,
                                     int64_t now_unix_ms, int64_t tokens, NanoUsd nano_usd);

  // The request for extend() of this reservation, for a caller that extends asynchronously
  // (LimitBackend::extend_async) and then adopt_extension()s the ticket it gets back.
  OwnedReserveRequest extension(std::string_view key_name, const KeyLimits& limits,
                                int64_t now_unix_ms, int64_t tokens, NanoUsd nano_usd) const;
  void adopt_extension(ReservationTicket grown) { ticket_ = std::move(grown); }

  bool active() const { return backend_ != nullptr; }
  LimitBackend* backend() const { return backend_; }
  const ReservationTicket& ticket() const { return ticket_; }

 private:
  void release();  // the unsettled end: last report, else the worst case
  void finish(int64_t tokens, NanoUsd nanos, bool unsettled);

  LimitBackend* backend_ = nullptr;
  ReservationTicket ticket_;
  bool reported_ = false;
  int64_t reported_tokens_ = 0;
  NanoUsd reported_nanos_ = 0;
};

// The request path's entry point: reserve the worst case of one request for a key.
std::variant<Reservation, LimitRefusal> reserve(LimitBackend& backend, std::string_view key_id,
                                                std::string_view key_name, const KeyLimits& limits,
                                                int64_t now_unix_ms, int64_t worst_case_tokens,
                                                double worst_case_usd);

}  // namespace triage::control

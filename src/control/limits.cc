#include "control/limits.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace triage::control {

namespace {

// "$10.00", "$0.0025": at least cents, up to nano-dollars, no trailing zeros past cents.
std::string format_usd(NanoUsd nanos) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.9f", nanos_to_usd(nanos));
  std::string s(buf);
  const auto dot = s.find('.');
  while (s.size() > dot + 3 && s.back() == '0') s.pop_back();
  return "$" + s;
}

std::string amount(LimitKind kind, int64_t value) {
  switch (kind) {
    case LimitKind::kRequestsPerMinute:
      return std::to_string(value) + " requests per minute";
    case LimitKind::kTokensPerMinute:
      return std::to_string(value) + " tokens per minute";
    case LimitKind::kUsdPerDay:
      return format_usd(value) + " per UTC day";
    case LimitKind::kUsdPerMonth:
      return format_usd(value) + " per UTC month";
  }
  return {};
}

bool is_budget(LimitKind kind) {
  return kind == LimitKind::kUsdPerDay || kind == LimitKind::kUsdPerMonth;
}

}  // namespace

NanoUsd usd_to_nanos(double usd) {
  if (!(usd > 0)) return 0;  // also NaN
  if (usd >= 9.2e9) return INT64_MAX;
  return std::llround(usd * 1e9);
}

double nanos_to_usd(NanoUsd nanos) { return static_cast<double>(nanos) / 1e9; }

std::string_view limit_name(LimitKind kind) {
  switch (kind) {
    case LimitKind::kRequestsPerMinute:
      return "requests_per_minute";
    case LimitKind::kTokensPerMinute:
      return "tokens_per_minute";
    case LimitKind::kUsdPerDay:
      return "usd_per_day";
    case LimitKind::kUsdPerMonth:
      return "usd_per_month";
  }
  return "unknown";
}

std::string_view on_backend_error_name(OnBackendError policy) {
  switch (policy) {
    case OnBackendError::kDefault:
      return "default";
    case OnBackendError::kOpen:
      return "open";
    case OnBackendError::kClosed:
      return "closed";
  }
  return "default";
}

OwnedReserveRequest OwnedReserveRequest::from(const ReserveRequest& r) {
  OwnedReserveRequest out;
  out.key_id = std::string(r.key_id);
  out.key_name = std::string(r.key_name);
  out.limits = r.limits;
  out.now_unix_ms = r.now_unix_ms;
  out.tokens = r.tokens;
  out.nano_usd = r.nano_usd;
  return out;
}

ReserveRequest OwnedReserveRequest::view() const {
  ReserveRequest r;
  r.key_id = key_id;
  r.key_name = key_name;
  r.limits = limits;
  r.now_unix_ms = now_unix_ms;
  r.tokens = tokens;
  r.nano_usd = nano_usd;
  return r;
}

Error limit_error(const LimitRefusal& r) {
  if (r.backend_unavailable) {
    // The cause, never its internals (host, port, reply): those are in the log and metrics.
    Error e = make_error(ErrorCode::kUnavailable,
                         "the limit store for API key '" + r.key_name +
                             "' is unreachable, and its limits refuse requests they cannot "
                             "count; retry shortly",
                         "limit backend unavailable (on_redis_error: closed)");
    e.retry_after_s = 1;
    return e;
  }
  const std::string key = "API key '" + r.key_name + "'";
  const std::string internal =
      std::string(limit_name(r.limit)) + ": limit=" + std::to_string(r.limit_value) +
      " in_use=" + std::to_string(r.in_use) + " requested=" + std::to_string(r.requested);
  std::string message;
  std::string param;
  if (r.never_fits) {
    param = "max_tokens";
    const std::string need = r.limit == LimitKind::kTokensPerMinute
                                 ? std::to_string(r.requested) + " tokens"
                                 : format_usd(r.requested);
    message = "this request may use up to " + need + " (prompt + max_tokens), more than " + key +
              " allows (" + amount(r.limit, r.limit_value) + ", " +
              std::string(limit_name(r.limit)) + "); lower max_tokens or shorten the prompt";
  } else {
    message = key + " is over its " + std::string(limit_name(r.limit)) + " limit (" +
              amount(r.limit, r.limit_value) +
              (is_budget(r.limit) ? ", including requests in flight" : "") + "); retry after " +
              std::to_string(r.retry_after_s) + " s";
  }
  Error e = make_error(ErrorCode::kRateLimited, std::move(message), internal, std::move(param));
  if (!r.never_fits) e.retry_after_s = r.retry_after_s;  // retrying cannot help the others
  return e;
}

// ---- Reservation ----

Reservation::Reservation(Reservation&& other) noexcept
    : backend_(other.backend_),
      ticket_(std::move(other.ticket_)),
      reported_(other.reported_),
      reported_tokens_(other.reported_tokens_),
      reported_nanos_(other.reported_nanos_) {
  other.backend_ = nullptr;
}

Reservation& Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    release();
    backend_ = other.backend_;
    ticket_ = std::move(other.ticket_);
    reported_ = other.reported_;
    reported_tokens_ = other.reported_tokens_;
    reported_nanos_ = other.reported_nanos_;
    other.backend_ = nullptr;
  }
  return *this;
}

Reservation::~Reservation() { release(); }

void Reservation::release() {
  if (!active()) return;
  if (reported_) {
    finish(reported_tokens_, reported_nanos_, true);
  } else {
    finish(ticket_.tokens, ticket_.nano_usd, true);
  }
}

void Reservation::report(int64_t tokens_so_far, double usd_so_far) {
  reported_ = true;
  reported_tokens_ = std::max<int64_t>(0, tokens_so_far);
  reported_nanos_ = usd_to_nanos(usd_so_far);
}

void Reservation::settle(int64_t actual_tokens, double actual_usd) {
  if (!active()) return;
  finish(std::max<int64_t>(0, actual_tokens), usd_to_nanos(actual_usd), false);
}

OwnedReserveRequest Reservation::extension(std::string_view key_name, const KeyLimits& limits,
                                           int64_t now_unix_ms, int64_t tokens,
                                           NanoUsd nano_usd) const {
  OwnedReserveRequest more;
  more.key_id = ticket_.key_id;
  more.key_name = std::string(key_name);
  more.limits = limits;
  more.now_unix_ms = now_unix_ms;
  more.tokens = std::max<int64_t>(0, tokens);
  more.nano_usd = std::max<NanoUsd>(0, nano_usd);
  return more;
}

std::optional<LimitRefusal> Reservation::extend(std::string_view key_name, const KeyLimits& limits,
                                                int64_t now_unix_ms, int64_t tokens,
                                                NanoUsd nano_usd) {
  if (!active()) return std::nullopt;
  const OwnedReserveRequest more = extension(key_name, limits, now_unix_ms, tokens, nano_usd);
  return backend_->extend(ticket_, more.view());
}

void Reservation::finish(int64_t tokens, NanoUsd nanos, bool unsettled) {
  LimitBackend* backend = backend_;
  backend_ = nullptr;
  backend->settle(ticket_, tokens, nanos, unsettled);
}

std::variant<Reservation, LimitRefusal> reserve(LimitBackend& backend, std::string_view key_id,
                                                std::string_view key_name, const KeyLimits& limits,
                                                int64_t now_unix_ms, int64_t worst_case_tokens,
                                                double worst_case_usd) {
  ReserveRequest request;
  request.key_id = key_id;
  request.key_name = key_name;
  request.limits = limits;
  request.now_unix_ms = now_unix_ms;
  request.tokens = std::max<int64_t>(0, worst_case_tokens);
  request.nano_usd = usd_to_nanos(worst_case_usd);
  auto outcome = backend.reserve(request);
  if (auto* refusal = std::get_if<LimitRefusal>(&outcome)) return std::move(*refusal);
  return Reservation(&backend, std::get<ReservationTicket>(std::move(outcome)));
}

}  // namespace triage::control

#pragma once
// Who may call what (docs/security.md): client API keys on the inference API, their limits
// and budgets, and the operator credential on everything else. Built once from config
// (`auth:`); every method is thread-safe and the request path takes no lock (KeyRegistry is
// lock-free for readers, the limit backend locks one key's state for a few comparisons).
//
// Without `auth:` nothing is required (serve binds loopback only: config::check_exposure).
// With it, every inference request needs a known, enabled key, and operator endpoints need the
// admin token (as a Bearer token or a sign-in session cookie); when no admin token is
// configured they answer loopback clients only.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "control/keys.h"
#include "control/memory_limits.h"
#include "control/redis_limits.h"
#include "control/secrets.h"
#include "routes/route.h"
#include "core/chat.h"
#include "net/http_server.h"
#include "providers/provider.h"

namespace triage::server {

// The sign-in cookie's name; its value is a random session id, never the token.
inline constexpr std::string_view kSessionCookie = "triage_session";

class AccessControl {
 public:
  // Reads the admin token and the keys' env secrets through `env`. Throws config::ConfigError
  // ("FILE:LINE: auth.keys[i].secret_env: ...") when one is unset or unusable. With
  // `limits.backend: redis`, connects to Redis (its URL from limits.redis_url or the env var
  // limits.redis_url_env) and throws ConfigError at limits when it cannot be reached.
  AccessControl(const config::Config& cfg, const providers::EnvLookup& env);

  // The client keys of `cfg`'s auth.keys (source config), their secrets read through `env`.
  // Throws config::ConfigError at the key whose secret is unset or unusable. A reload builds
  // them with its snapshot and installs them with keys().replace_source(kConfig, ...).
  static std::vector<control::ApiKey> config_keys(const config::Config& cfg,
                                                  const providers::EnvLookup& env);

  // True when the config has `auth:`: inference requests need a key.
  bool keys_required() const { return keys_required_; }

  // The key a client request presents (Authorization: Bearer or x-api-key). nullptr when keys
  // are not required (and none was checked). 401 for a missing, unknown or disabled key.
  Result<std::shared_ptr<const control::ApiKey>> client_key(const net::IncomingRequest& in) const;
  // 403 when `key` may not name `route_or_model` in `model`.
  static Result<void> check_allowed(const control::ApiKey& key, std::string_view route_or_model);

  // Operator endpoints: ok, 401 (no or wrong token) or 403 (no admin token configured and the
  // client is not on loopback).
  Result<void> check_admin(const net::IncomingRequest& in) const;
  // A new sign-in session when `token` is the admin token: the Set-Cookie header value.
  // `https`: the browser reached Triage over TLS (a terminating proxy said so with
  // X-Forwarded-Proto), so the cookie is marked Secure and never travels over plain HTTP.
  std::optional<std::string> sign_in(std::string_view token, bool https = false);

  // The worst case of one request, reserved before any upstream call: prompt bound (the body's
  // bytes, which no tokenizer's count exceeds) plus `max_tokens` (or kDefaultMaxTokens, which
  // is then imposed on the request), summed over the `reachable` models, each called once.
  // A route that calls more (one model twice) gets more per call from ReservationAdmission.
  struct WorstCase {
    int64_t tokens = 0;
    double usd = 0;
  };
  static WorstCase worst_case(std::size_t body_bytes, core::ChatRequest& req,
                              const std::vector<const config::Model*>& reachable);
  // Completion tokens reserved for a request without max_tokens when its key has a token or
  // money limit; the request is then sent with this max_tokens.
  static constexpr int64_t kDefaultMaxTokens = 4096;

  control::KeyRegistry& keys() { return keys_; }
  const control::KeyRegistry& keys() const { return keys_; }
  // Where keys' limits are counted (limits.backend): in memory, or Redis shared by replicas.
  control::LimitBackend& limits() { return *limits_; }
  // The Redis backend when limits.backend is redis, else null: for its metrics and /admin.
  control::RedisLimitBackend* redis_limits() { return redis_limits_; }

 private:
  bool valid_session(std::string_view cookie_header) const;

  bool keys_required_ = false;
  std::optional<control::AdminToken> admin_token_;
  control::KeyRegistry keys_;
  std::unique_ptr<control::LimitBackend> limits_;
  control::RedisLimitBackend* redis_limits_ = nullptr;  // limits_, when it is the Redis one

  static constexpr std::chrono::hours kSessionLifetime{12};
  mutable std::mutex sessions_mu_;
  // SHA-256(session id) hex -> expiry (unix ms); guarded by sessions_mu_. Only digests are kept.
  std::unordered_map<std::string, int64_t> sessions_;
};

// The value of cookie `name` in a Cookie header ("a=1; b=2"); empty when absent.
std::string_view cookie_value(std::string_view cookie_header, std::string_view name);

// Holds a request's model calls to its key's reservation: each call's worst case (its prompt
// bound plus max_tokens, at that model's prices) is taken from what the request reserved; a call
// past it extends the reservation if the key's limits still fit, else is refused with the 429
// of the limit. So a route that calls a model more often than the reservation assumed (an
// ensemble's samples, a pipeline whose steps share a model, an agreement check that resamples)
// cannot spend past a budget. Owned by the request's coroutine; `hold` and `key` outlive it.
class ReservationAdmission final : public routes::CallAdmission {
 public:
  ReservationAdmission(control::Reservation& hold, const control::ApiKey& key)
      : hold_(hold), key_(key) {}
  boost::asio::awaitable<Result<void>> admit(const config::Model& model,
                                             const core::ChatRequest& req) override;

 private:
  control::Reservation& hold_;
  const control::ApiKey& key_;
  int64_t committed_tokens_ = 0;  // worst cases of the calls admitted so far
  control::NanoUsd committed_nanos_ = 0;
};

}  // namespace triage::server

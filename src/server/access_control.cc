#include "server/access_control.h"

#include <algorithm>
#include <boost/json/serialize.hpp>

#include "common/clock.h"
#include "config/yaml_util.h"
#include "server/limit_await.h"

namespace triage::server {

namespace {

control::OnBackendError on_backend_error(config::OnRedisError policy) {
  switch (policy) {
    case config::OnRedisError::kOpen:
      return control::OnBackendError::kOpen;
    case config::OnRedisError::kClosed:
      return control::OnBackendError::kClosed;
    case config::OnRedisError::kDefault:
      break;
  }
  return control::OnBackendError::kDefault;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

control::ApiKey key_from_config(const config::Config& cfg, const config::ApiKeyConfig& k,
                                const providers::EnvLookup& env) {
  Result<control::Sha256Digest> digest =
      k.sha256_hex.empty()
          ? control::digest_from_env_secret(k.secret_env, env(k.secret_env.c_str()))
          : control::digest_from_hex(k.sha256_hex);
  if (!digest) {
    config::fail_at(cfg.path, k.line, k.path + (k.sha256_hex.empty() ? ".secret_env" : ".sha256"),
                    digest.error().message);
  }
  control::KeyInfo info;
  info.name = k.name;
  info.allowed_routes = k.routes;
  info.allowed_models = k.models;
  info.cohort = k.cohort;
  info.limits.requests_per_minute = k.requests_per_minute;
  info.limits.tokens_per_minute = k.tokens_per_minute;
  info.limits.usd_per_day = k.usd_per_day;
  info.limits.usd_per_month = k.usd_per_month;
  info.limits.on_backend_error = on_backend_error(k.on_redis_error);
  info.source = control::KeySource::kConfig;
  return control::make_api_key(digest.value(), std::move(info));
}

// The limit backend `limits:` asks for. Throws ConfigError at limits.* when Redis is named but
// its URL is unset, malformed or unreachable (so a wrong connection string fails at start-up).
std::unique_ptr<control::LimitBackend> make_limit_backend(const config::Config& cfg,
                                                          const providers::EnvLookup& env) {
  const config::LimitsConfig& l = cfg.limits;
  if (l.backend != config::LimitsConfig::Backend::kRedis) {
    return std::make_unique<control::InMemoryLimitBackend>();
  }
  std::string url = l.redis_url;
  std::string field = "limits.redis_url";
  if (!l.redis_url_env.empty()) {
    field = "limits.redis_url_env";
    const char* value = env(l.redis_url_env.c_str());
    if (value == nullptr || *value == '\0') {
      config::fail_at(cfg.path, l.line, field,
                      "environment variable " + l.redis_url_env + " is not set");
    }
    url = value;
  }
  Result<control::RedisUrl> parsed = control::RedisUrl::parse(url);
  if (!parsed) config::fail_at(cfg.path, l.line, field, parsed.error().message);
  control::RedisLimitOptions options;
  options.key_prefix = l.key_prefix;
  options.default_on_error = on_backend_error(l.on_redis_error);
  options.reservation_lease_ms = l.reservation_lease_ms;
  auto backend = std::make_unique<control::RedisLimitBackend>(parsed.value(), options);
  if (Result<void> up = backend->check_connection(); !up) {
    config::fail_at(cfg.path, l.line, field,
                    "cannot reach Redis at " + parsed->redacted() + ": " + up.error().internal);
  }
  return backend;
}

Error forbidden(std::string message) {
  return make_error(ErrorCode::kForbidden, std::move(message));
}

}  // namespace

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const std::size_t semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
      return trim(pair.substr(eq + 1));
    }
  }
  return {};
}

AccessControl::AccessControl(const config::Config& cfg, const providers::EnvLookup& env)
    : limits_(make_limit_backend(cfg, env)) {
  if (auto* redis = dynamic_cast<control::RedisLimitBackend*>(limits_.get())) redis_limits_ = redis;
  if (!cfg.auth) return;
  keys_required_ = true;
  const config::AuthConfig& auth = *cfg.auth;
  if (!auth.admin_token_env.empty()) {
    auto token =
        control::AdminToken::from_env(auth.admin_token_env, env(auth.admin_token_env.c_str()));
    if (!token) {
      config::fail_at(cfg.path, auth.line, "auth.admin_token_env", token.error().message);
    }
    admin_token_.emplace(token.value());
  }
  if (auto r = keys_.replace_source(control::KeySource::kConfig, config_keys(cfg, env)); !r) {
    config::fail_at(cfg.path, auth.line, "auth.keys", r.error().message);
  }
}

std::vector<control::ApiKey> AccessControl::config_keys(const config::Config& cfg,
                                                       const providers::EnvLookup& env) {
  std::vector<control::ApiKey> keys;
  if (!cfg.auth) return keys;
  for (const config::ApiKeyConfig& k : cfg.auth->keys) keys.push_back(key_from_config(cfg, k, env));
  return keys;
}

Result<std::shared_ptr<const control::ApiKey>> AccessControl::client_key(
    const net::IncomingRequest& in) const {
  if (!keys_required_) return std::shared_ptr<const control::ApiKey>();
  Result<std::string_view> secret =
      control::presented_secret(in.header("authorization"), in.header("x-api-key"));
  if (!secret) return std::move(secret).error();
  std::shared_ptr<const control::ApiKey> key = keys_.find_by_secret(secret.value());
  if (!key) return control::auth_error(control::AuthFailure::kUnknownKey, nullptr);
  if (key->disabled) return control::auth_error(control::AuthFailure::kDisabled, key.get());
  return key;
}

Result<void> AccessControl::check_allowed(const control::ApiKey& key,
                                          std::string_view route_or_model) {
  if (control::is_allowed(key, route_or_model)) return {};
  return control::auth_error(control::AuthFailure::kNotAllowed, &key, route_or_model);
}

Result<void> AccessControl::check_admin(const net::IncomingRequest& in) const {
  if (!admin_token_) {
    if (!keys_required_ || in.from_loopback()) return {};
    return forbidden(
        "operator endpoints answer only on this machine (loopback) until an admin token is "
        "configured (auth.admin_token_env)");
  }
  const std::string_view authorization = trim(in.header("authorization"));
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() > kBearer.size()) {
    std::string scheme(authorization.substr(0, kBearer.size()));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme == kBearer && admin_token_->matches(trim(authorization.substr(kBearer.size())))) {
      return {};
    }
  }
  if (valid_session(in.header("cookie"))) return {};
  return make_error(ErrorCode::kUnauthorized,
                    "this endpoint needs the admin token: send `Authorization: Bearer <token>` "
                    "or sign in at /dashboard");
}

std::optional<std::string> AccessControl::sign_in(std::string_view token, bool https) {
  if (!admin_token_ || !admin_token_->matches(token)) return std::nullopt;
  Result<std::string> id = control::generate_secret();
  if (!id) return std::nullopt;
  const int64_t now = unix_time_ms();
  const int64_t expires =
      now + std::chrono::duration_cast<std::chrono::milliseconds>(kSessionLifetime).count();
  {
    std::lock_guard lock(sessions_mu_);
    std::erase_if(sessions_, [now](const auto& kv) { return kv.second <= now; });
    sessions_[control::to_hex(control::sha256(id.value()))] = expires;
  }
  return std::string(kSessionCookie) + "=" + id.value() +
         "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kSessionLifetime).count()) +
         (https ? "; Secure" : "");
}

bool AccessControl::valid_session(std::string_view cookie_header) const {
  const std::string_view id = cookie_value(cookie_header, kSessionCookie);
  if (id.empty()) return false;
  const std::string digest = control::to_hex(control::sha256(id));
  std::lock_guard lock(sessions_mu_);
  auto it = sessions_.find(digest);
  return it != sessions_.end() && it->second > unix_time_ms();
}

AccessControl::WorstCase AccessControl::worst_case(
    std::size_t body_bytes, core::ChatRequest& req,
    const std::vector<const config::Model*>& reachable) {
  // A token is at least one byte of the text it encodes, and every byte of the prompt is in
  // the body; the body's JSON punctuation more than covers per-message framing tokens.
  const auto prompt = static_cast<int64_t>(body_bytes);
  if (!req.max_tokens || *req.max_tokens <= 0) req.max_tokens = kDefaultMaxTokens;
  const int64_t completion = *req.max_tokens;
  // A composite route may call every model it reaches (a cascade climbing to its last step, a
  // fallback trying each child): the bound is the sum over them, each called once.
  WorstCase w;
  const auto calls = static_cast<int64_t>(std::max<std::size_t>(reachable.size(), 1));
  w.tokens = (prompt + completion) * calls;
  for (const config::Model* m : reachable) {
    w.usd += config::cost_usd(m->prices, prompt, completion);
  }
  return w;
}

namespace {

// A bound on the prompt tokens of one call (a token is at least one byte): each message's text
// plus framing; a message whose content is not plain text (parts, tool calls) counts as sent,
// serialised. Plain-text messages, the common case, cost no serialisation.
int64_t prompt_bound(const core::ChatRequest& req) {
  int64_t bytes = 0;
  for (const core::Message& m : req.messages) {
    const boost::json::object* raw = m.raw.if_object();
    const bool plain = raw == nullptr || (raw->size() <= 2 && raw->contains("role") &&
                                          (!raw->contains("content") || raw->at("content").is_string()));
    const auto sent = static_cast<int64_t>(plain ? 0 : boost::json::serialize(m.raw).size());
    bytes += std::max(sent, static_cast<int64_t>(m.text.size())) + 16;
  }
  return bytes;
}

}  // namespace

boost::asio::awaitable<Result<void>> ReservationAdmission::admit(const config::Model& model,
                                                                 const core::ChatRequest& req) {
  if (!hold_.active()) co_return Result<void>();
  const int64_t prompt = prompt_bound(req);
  const int64_t completion = req.max_tokens.value_or(AccessControl::kDefaultMaxTokens);
  const int64_t tokens = prompt + completion;
  const control::NanoUsd nanos =
      control::usd_to_nanos(config::cost_usd(model.prices, prompt, completion));
  committed_tokens_ += tokens;
  committed_nanos_ += nanos;
  const int64_t more_tokens = std::max<int64_t>(0, committed_tokens_ - hold_.ticket().tokens);
  const control::NanoUsd more_nanos =
      std::max<control::NanoUsd>(0, committed_nanos_ - hold_.ticket().nano_usd);
  if (more_tokens == 0 && more_nanos == 0) co_return Result<void>();
  std::optional<control::LimitRefusal> refused;
  control::LimitBackend* backend = hold_.backend();
  if (backend->completes_inline()) {
    refused = hold_.extend(key_.name, key_.limits, unix_time_ms(), more_tokens, more_nanos);
  } else {
    control::OwnedReserveRequest more =
        hold_.extension(key_.name, key_.limits, unix_time_ms(), more_tokens, more_nanos);
    control::ReservationTicket ticket = hold_.ticket();
    ExtendOutcome grown = co_await async_extend(*backend, std::move(ticket), std::move(more));
    hold_.adopt_extension(std::move(grown.ticket));
    refused = std::move(grown.refused);
  }
  if (!refused) co_return Result<void>();
  committed_tokens_ -= tokens;
  committed_nanos_ -= nanos;
  co_return control::limit_error(*refused);
}

}  // namespace triage::server

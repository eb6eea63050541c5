#include "control/keys.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

namespace triage::control {

namespace {

struct DigestHash {
  std::size_t operator()(const Sha256Digest& d) const {
    std::size_t h;  // the digest is uniformly distributed: its first bytes are a fine hash
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

uint64_t next_registry_uid() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

Error unauthorized(std::string message) {
  return make_error(ErrorCode::kUnauthorized, std::move(message));
}

}  // namespace

std::string_view key_source_name(KeySource source) {
  return source == KeySource::kConfig ? "config" : "admin";
}

ApiKey make_api_key(const Sha256Digest& digest, KeyInfo info) {
  ApiKey key;
  static_cast<KeyInfo&>(key) = std::move(info);
  key.digest = digest;
  key.id = key_id_from_digest(digest);
  return key;
}

Result<std::string_view> presented_secret(std::string_view authorization,
                                          std::string_view x_api_key) {
  constexpr std::string_view kHowTo =
      "send your API key as `Authorization: Bearer <key>` or `x-api-key: <key>`";
  authorization = trim(authorization);
  x_api_key = trim(x_api_key);
  std::optional<std::string_view> bearer;
  if (iequals(authorization, "bearer")) {
    return unauthorized("the Bearer token is empty; " + std::string(kHowTo));
  }
  if (!authorization.empty()) {
    const auto space = authorization.find(' ');
    if (space != std::string_view::npos && iequals(authorization.substr(0, space), "bearer")) {
      bearer = trim(authorization.substr(space + 1));
      if (bearer->empty()) return unauthorized("the Bearer token is empty; " + std::string(kHowTo));
    } else if (x_api_key.empty()) {
      return unauthorized("the Authorization header is not a Bearer token; " + std::string(kHowTo));
    }
  }
  if (bearer && !x_api_key.empty() && *bearer != x_api_key) {
    return unauthorized(
        "Authorization and x-api-key carry different keys; send one key in one header");
  }
  if (bearer) return *bearer;
  if (!x_api_key.empty()) return x_api_key;
  return unauthorized("no API key; " + std::string(kHowTo));
}

bool is_allowed(const KeyInfo& key, std::string_view route_or_model) {
  if (key.allowed_routes.empty() && key.allowed_models.empty()) return true;
  auto in = [&](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), route_or_model) != names.end();
  };
  return in(key.allowed_routes) || in(key.allowed_models);
}

Error auth_error(AuthFailure failure, const KeyInfo* key, std::string_view route_or_model) {
  const std::string name = key ? key->name : std::string();
  switch (failure) {
    case AuthFailure::kUnknownKey:
      return unauthorized("invalid API key; check the key you were given");
    case AuthFailure::kDisabled:
      return make_error(ErrorCode::kUnauthorized,
                        "API key '" + name + "' is disabled; ask the gateway's operator",
                        "disabled key " + (key ? key->id : std::string()));
    case AuthFailure::kNotAllowed:
      return make_error(ErrorCode::kForbidden,
                        "API key '" + name + "' may not use '" + std::string(route_or_model) +
                            "'; ask the gateway's operator for access",
                        "key " + (key ? key->id : std::string()) + " is not allowed '" +
                            std::string(route_or_model) + "'",
                        "model");
  }
  return unauthorized("invalid API key");
}

std::variant<Reservation, LimitRefusal> reserve(LimitBackend& backend, const KeyInfo& key,
                                                int64_t now_unix_ms, int64_t worst_case_tokens,
                                                double worst_case_usd) {
  return reserve(backend, key.id, key.name, key.limits, now_unix_ms, worst_case_tokens,
                 worst_case_usd);
}

// ---- KeyRegistry ----

struct KeyRegistry::Snapshot {
  std::unordered_map<Sha256Digest, std::shared_ptr<const ApiKey>, DigestHash> by_digest;
  std::map<std::string, std::shared_ptr<const ApiKey>, std::less<>> by_id;

  Result<void> insert(std::shared_ptr<const ApiKey> key) {
    if (key->name.empty()) {
      return make_error(ErrorCode::kInvalidRequest, "a key needs a name");
    }
    if (by_digest.count(key->digest) != 0) {
      return make_error(ErrorCode::kInvalidRequest,
                        "key '" + key->name + "' has the same secret as an existing key");
    }
    if (by_id.count(key->id) != 0) {
      return make_error(ErrorCode::kInvalidRequest,
                        "key '" + key->name + "' has the id " + key->id +
                            " of an existing key; choose another secret");
    }
    by_digest.emplace(key->digest, key);
    by_id.emplace(key->id, std::move(key));
    return {};
  }

  void erase(const ApiKey& key) {
    by_digest.erase(key.digest);
    by_id.erase(key.id);
  }
};

KeyRegistry::KeyRegistry()
    : uid_(next_registry_uid()), snapshot_(std::make_shared<const Snapshot>()) {}

KeyRegistry::~KeyRegistry() = default;

const KeyRegistry::Snapshot& KeyRegistry::current() const {
  struct Cache {
    uint64_t uid = 0;
    uint64_t version = 0;
    std::shared_ptr<const Snapshot> snapshot;
  };
  thread_local Cache cache;
  const uint64_t version = version_.load(std::memory_order_acquire);
  if (cache.uid != uid_ || cache.version != version) {
    std::lock_guard lock(write_mu_);
    cache.snapshot = snapshot_;
    cache.version = version_.load(std::memory_order_relaxed);
    cache.uid = uid_;
  }
  return *cache.snapshot;
}

void KeyRegistry::publish(std::shared_ptr<const Snapshot> next) {
  snapshot_ = std::move(next);
  version_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const ApiKey> KeyRegistry::find_by_digest(const Sha256Digest& digest) const {
  const Snapshot& snap = current();
  auto it = snap.by_digest.find(digest);
  return it == snap.by_digest.end() ? nullptr : it->second;
}

std::shared_ptr<const ApiKey> KeyRegistry::find_by_secret(std::string_view secret) const {
  return find_by_digest(sha256(secret));
}

std::shared_ptr<const ApiKey> KeyRegistry::find_by_id(std::string_view id) const {
  const Snapshot& snap = current();
  auto it = snap.by_id.find(id);
  return it == snap.by_id.end() ? nullptr : it->second;
}

Result<void> KeyRegistry::add(ApiKey key) {
  key.id = key_id_from_digest(key.digest);
  std::lock_guard lock(write_mu_);
  auto next = std::make_shared<Snapshot>(*snapshot_);
  if (auto r = next->insert(std::make_shared<const ApiKey>(std::move(key))); !r) return r;
  publish(std::move(next));
  return {};
}

Result<KeyRegistry::Created> KeyRegistry::create(KeyInfo info, int64_t now_unix_ms) {
  auto secret = generate_secret();
  if (!secret) return std::move(secret).error();
  info.source = KeySource::kAdmin;
  info.created_unix_ms = now_unix_ms;
  info.updated_unix_ms = now_unix_ms;
  ApiKey key = make_api_key(sha256(secret.value()), std::move(info));
  KeyInfo shown = key;
  if (auto r = add(std::move(key)); !r) return std::move(r).error();
  return Created{std::move(secret).value(), std::move(shown)};
}

Result<void> KeyRegistry::set_disabled(std::string_view id, bool disabled, int64_t now_unix_ms) {
  std::lock_guard lock(write_mu_);
  auto it = snapshot_->by_id.find(id);
  if (it == snapshot_->by_id.end()) {
    return make_error(ErrorCode::kNotFound, "no key with id " + std::string(id));
  }
  auto changed = std::make_shared<ApiKey>(*it->second);
  changed->disabled = disabled;
  changed->updated_unix_ms = now_unix_ms;
  auto next = std::make_shared<Snapshot>(*snapshot_);
  next->by_id[changed->id] = changed;
  next->by_digest[changed->digest] = changed;
  publish(std::move(next));
  return {};
}

Result<void> KeyRegistry::remove(std::string_view id) {
  std::lock_guard lock(write_mu_);
  auto it = snapshot_->by_id.find(id);
  if (it == snapshot_->by_id.end()) {
    return make_error(ErrorCode::kNotFound, "no key with id " + std::string(id));
  }
  auto next = std::make_shared<Snapshot>(*snapshot_);
  next->erase(*it->second);
  publish(std::move(next));
  return {};
}

Result<void> KeyRegistry::replace_source(KeySource source, std::vector<ApiKey> keys) {
  std::lock_guard lock(write_mu_);
  auto next = std::make_shared<Snapshot>();
  for (const auto& [id, key] : snapshot_->by_id) {
    if (key->source != source) (void)next->insert(key);  // they were consistent already
  }
  for (ApiKey& key : keys) {
    key.id = key_id_from_digest(key.digest);
    key.source = source;
    if (auto r = next->insert(std::make_shared<const ApiKey>(std::move(key))); !r) return r;
  }
  publish(std::move(next));
  return {};
}

std::vector<KeyInfo> KeyRegistry::list() const {
  const Snapshot& snap = current();
  std::vector<KeyInfo> out;
  out.reserve(snap.by_id.size());
  for (const auto& [id, key] : snap.by_id) out.push_back(static_cast<const KeyInfo&>(*key));
  return out;
}

std::size_t KeyRegistry::size() const { return current().by_id.size(); }

}  // namespace triage::control

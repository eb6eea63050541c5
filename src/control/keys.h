#pragma once
// Client API keys: what a key may do, how a request presents one, and the registry the request
// path looks keys up in. The registry stores SHA-256 digests only; the plaintext of a generated
// key is returned once, by create(), and never again.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/result.h"
#include "control/limits.h"
#include "control/secrets.h"

namespace triage::control {

enum class KeySource { kConfig, kAdmin };
std::string_view key_source_name(KeySource source);  // "config" | "admin"

// Everything about a key that may be shown: list() and the admin API return this. No secret,
// no digest (the id is a 48-bit prefix of the digest, by design not enough to test guesses
// offline against).
struct KeyInfo {
  std::string id;    // "key_" + 12 hex of SHA-256(secret): stable, public
  std::string name;  // operator's label ("team-search"); named in 429s and logs
  // Names the key may put in a request's `model` (routes and catalog models share one
  // namespace). Both empty: everything. Otherwise exactly the names in either list. A route
  // allowed here may reach any model inside it; the route is the unit of permission.
  std::vector<std::string> allowed_routes;
  std::vector<std::string> allowed_models;
  std::string cohort;  // team / cohort label for rules, splits and cost reports; may be empty
  KeyLimits limits;
  bool disabled = false;
  KeySource source = KeySource::kConfig;
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;
};

// A registered key: its public description plus the digest the lookup matches.
struct ApiKey : KeyInfo {
  Sha256Digest digest{};
};

// Builds a key from its digest (fills id); the other fields are the caller's.
ApiKey make_api_key(const Sha256Digest& digest, KeyInfo info);

// The secret a request presents: `Authorization: Bearer X` (OpenAI SDKs) or `x-api-key: X`
// (Anthropic SDKs); pass "" for a header that is absent. The scheme is case-insensitive. Both
// headers with the same secret is fine; with different secrets it is refused (charging either
// key would be a guess). A non-Bearer Authorization is ignored when x-api-key is present (a proxy
// in front may use it). Errors are 401s that say how to send a key. The view points into the
// arguments.
Result<std::string_view> presented_secret(std::string_view authorization,
                                          std::string_view x_api_key);

// May `key` use `route_or_model` (the request's `model` field)? See KeyInfo::allowed_routes.
bool is_allowed(const KeyInfo& key, std::string_view route_or_model);

// Reserves one request's worst case against the key's limits (see limits.h).
std::variant<Reservation, LimitRefusal> reserve(LimitBackend& backend, const KeyInfo& key,
                                                int64_t now_unix_ms, int64_t worst_case_tokens,
                                                double worst_case_usd);

// Why a presented secret was not accepted. auth_error makes the 401 (unknown, disabled) or 403
// (not allowed) the client sees: it names the key only when the client proved it holds it.
enum class AuthFailure { kUnknownKey, kDisabled, kNotAllowed };
Error auth_error(AuthFailure failure, const KeyInfo* key, std::string_view route_or_model = {});

// The keys of a running gateway. Readers (every request on every I/O thread) are lock-free:
// they read an immutable snapshot that writers replace; each thread caches the current
// snapshot and revalidates it with one atomic load (a thread takes the writers' mutex only to
// refresh its cache, once after each write). Writers (config load, admin API) are rare,
// serialised by a mutex, and copy the index (O(keys)). All methods are thread-safe. A key
// returned by a lookup stays valid (it is immutable) even if the key is changed or deleted
// meanwhile; the change applies to lookups that start after the writer returns.
class KeyRegistry {
 public:
  KeyRegistry();
  ~KeyRegistry();
  KeyRegistry(const KeyRegistry&) = delete;
  KeyRegistry& operator=(const KeyRegistry&) = delete;

  // The key whose digest is sha256(secret), disabled or not (the caller refuses disabled keys
  // with auth_error(kDisabled)); nullptr when no key matches. Hash, then one hash-table probe;
  // a timing difference reveals only facts about the digest of the attacker's own guess.
  std::shared_ptr<const ApiKey> find_by_secret(std::string_view secret) const;
  std::shared_ptr<const ApiKey> find_by_digest(const Sha256Digest& digest) const;
  std::shared_ptr<const ApiKey> find_by_id(std::string_view id) const;

  // Adds a key. Refused (kInvalidRequest) when its digest or id is already registered or its
  // name is empty. Names need not be unique, ids must.
  Result<void> add(ApiKey key);
  // Generates a secret, registers sha256(secret) with `info` (source admin; id, times and digest
  // are filled in) and returns the plaintext: the only time it exists outside the client.
  struct Created {
    std::string secret;
    KeyInfo info;
  };
  Result<Created> create(KeyInfo info, int64_t now_unix_ms);
  // kNotFound when no key has this id.
  Result<void> set_disabled(std::string_view id, bool disabled, int64_t now_unix_ms);
  Result<void> remove(std::string_view id);
  // Replaces every key of `source` with `keys` in one step (config reload), leaving the other
  // source's keys alone. All-or-nothing: refused if any key collides or is invalid.
  Result<void> replace_source(KeySource source, std::vector<ApiKey> keys);

  // Every key's public view, sorted by id.
  std::vector<KeyInfo> list() const;
  std::size_t size() const;

 private:
  struct Snapshot;
  // This thread's cached snapshot, refreshed if a writer published since. The reference is
  // valid until this thread's next call into any KeyRegistry (so no reference count is touched
  // on the read path; only the returned key's).
  const Snapshot& current() const;
  void publish(std::shared_ptr<const Snapshot> next);  // requires write_mu_ held

  const uint64_t uid_;  // tells this registry's entry in a thread's cache from another's
  std::atomic<uint64_t> version_{0};
  mutable std::mutex write_mu_;  // serialises writers; readers only to refresh their cache
  std::shared_ptr<const Snapshot> snapshot_;  // guarded by write_mu_ (readers use caches)
};

}  // namespace triage::control

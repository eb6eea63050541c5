#pragma once
// Client keys created through the admin API, kept in the request store (table `api_keys`,
// docs/store.md) so that they survive a restart. Only the SHA-256 of a secret is stored; the
// server maps rows onto control::ApiKey (telemetry does not depend on control).
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace triage::telemetry {

struct StoredKey {
  std::string id;          // "key_" + 12 hex of the digest
  std::string sha256_hex;  // 64 lower-case hex digits
  std::string name;
  std::vector<std::string> routes;  // allowed routes; both lists empty = everything
  std::vector<std::string> models;
  std::string cohort;
  int64_t requests_per_minute = 0;  // 0 = unlimited, as in config
  int64_t tokens_per_minute = 0;
  double usd_per_day = 0;
  double usd_per_month = 0;
  bool disabled = false;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// Durable writes: each call is its own committed (fsynced) transaction. Thread-safe.
class KeyDb {
 public:
  virtual ~KeyDb() = default;
  virtual Result<std::vector<StoredKey>> list_keys() = 0;  // by id
  virtual Result<void> insert_key(const StoredKey& key) = 0;
  // kNotFound when no row has this id.
  virtual Result<void> set_key_disabled(const std::string& id, bool disabled, int64_t now_ms) = 0;
  virtual Result<void> delete_key(const std::string& id) = 0;
};

}  // namespace triage::telemetry

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

// What requests made with one key cost since the start of the current UTC month, and the part
// since the start of the current UTC day (the store's cost_usd summed by request start time).
struct KeyPeriodSpend {
  std::string key_id;
  double day_usd = 0;
  double month_usd = 0;
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
  // Spend per key id over stored requests (keys with no request in the month are absent).
  virtual Result<std::vector<KeyPeriodSpend>> key_spend(int64_t day_start_ms,
                                                        int64_t month_start_ms) = 0;
};

}  // namespace triage::telemetry

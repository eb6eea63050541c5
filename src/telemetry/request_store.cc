#include "telemetry/request_store.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "telemetry/pg_store.h"
#include "telemetry/sqlite_store.h"

namespace triage::telemetry {

std::unique_ptr<RequestStore> make_request_store(const config::Config& cfg) {
  const config::StoreConfig& sc = cfg.store;
  if (sc.type == "none") return std::make_unique<NullRequestStore>();
  if (sc.type == "sqlite") {
    SqliteStoreOptions o;
    o.path = sc.path == ":memory:" ? sc.path : cfg.resolve(sc.path);  // no-op if absolute
    o.queue_capacity = sc.queue_capacity;
    o.batch_size = sc.batch_size;
    o.flush_interval_ms = sc.flush_interval_ms;
    auto store = std::make_unique<SqliteStore>(std::move(o));
    spdlog::info("request store: {} at {}", store->name(), store->path());
    return store;
  }
  if (sc.type == "postgres") {
    auto password = store_password(sc);
    if (!password) throw std::runtime_error("request store: " + password.error().message);
    PgStoreOptions o;
    o.conninfo = sc.url;
    o.password = *password;
    o.queue_capacity = sc.queue_capacity;
    o.batch_size = sc.batch_size;
    o.flush_interval_ms = sc.flush_interval_ms;
    auto store = std::make_unique<PgStore>(std::move(o));
    spdlog::info("request store: {} at {}", store->name(), store->where());
    return store;
  }
  throw config::ConfigError(cfg.path + ": store.type: unknown store '" + sc.type +
                            "' (expected sqlite, postgres or none)");
}

bool is_postgres_location(const std::string& location) {
  return location.rfind("postgres://", 0) == 0 || location.rfind("postgresql://", 0) == 0;
}

Result<std::string> store_password(const config::StoreConfig& store) {
  if (store.password_env.empty()) return std::string();
  const char* v = std::getenv(store.password_env.c_str());
  if (!v) {
    return make_error(ErrorCode::kUnavailable, "store.password_env: environment variable " +
                                                   store.password_env + " is not set");
  }
  return std::string(v);
}

}  // namespace triage::telemetry

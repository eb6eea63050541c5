#include "telemetry/request_store.h"

#include <spdlog/spdlog.h>

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
  throw config::ConfigError(cfg.path + ": store.type: unknown store '" + sc.type +
                            "' (expected sqlite or none)");
}

}  // namespace triage::telemetry

#pragma once
// What one config version serves with, as one immutable snapshot (docs/config_versions.md):
// the config, its providers and route tree, the client keys of its `auth.keys`, the rendered
// models list, the response caches. A reload builds a new Serving beside the old one and swaps the pointer; each
// request takes the pointer once at its start and holds it to its end (streams and detached
// shadow work included), so nothing in use is freed: the old snapshot goes when its last
// request does.
//
// What is NOT in here lives for the whole process (server/gateway.h): the HTTP listener, the
// metrics registry, the request store and its writer, the OTLP exporter, the key registry with
// the limiter's spend counters, the admin APIs.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/config_version.h"
#include "control/keys.h"
#include "engine/built_config.h"
#include "routes/route_table.h"
#include "server/cache_front.h"

namespace triage::server {

struct Serving {
  std::unique_ptr<engine::BuiltConfig> engine;  // never null
  config::ConfigVersion version;
  std::vector<control::ApiKey> config_keys;  // from auth.keys (digests resolved from env)
  std::string models_json;  // GET /v1/models for keys without an allow-list
  // The response caches of this version's routes and models (docs/cache.md): a reload starts
  // with empty ones, so no answer of an older config is ever served. Never null.
  std::unique_ptr<CacheFront> cache;
  int64_t created_s = 0;    // unix seconds: the models' `created`

  const config::Config& cfg() const { return engine->cfg; }
  routes::RouteTable& routes() const { return *engine->routes; }
};

// Builds the snapshot of `engine` at `version`. Throws config::ConfigError when a key's secret
// cannot be read (as at start-up).
std::shared_ptr<const Serving> make_serving(std::unique_ptr<engine::BuiltConfig> engine,
                                            config::ConfigVersion version,
                                            const providers::EnvLookup& env, int64_t created_s);

// The snapshot serving new requests. Thread-safe: current() from any thread (a mutex-guarded
// shared_ptr copy: GCC 12's std::atomic<std::shared_ptr> is not lock-free either, and the
// section is two reference-count updates), replace() from the reloading thread.
class ServingHolder {
 public:
  std::shared_ptr<const Serving> current() const {
    std::lock_guard lk(mu_);
    return current_;
  }
  // Returns the previous snapshot (dropped by the caller, off the request path).
  std::shared_ptr<const Serving> replace(std::shared_ptr<const Serving> next) {
    std::lock_guard lk(mu_);
    current_.swap(next);
    return next;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Serving> current_;  // guarded by mu_
};

}  // namespace triage::server

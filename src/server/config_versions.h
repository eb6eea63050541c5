#pragma once
// Versioned configuration (docs/config_versions.md): the serving snapshot of the gateway,
// hot reload, history and rollback.
//
// Every config that serves is a version: a sequence number (1, 2, ... per request store) and
// the SHA-256 of its file's bytes. apply() validates a new file exactly as start-up does
// (parse, providers, route tree, keys' secrets), refuses changes that need a restart, records
// the version in the store's history and swaps the snapshot: new requests see it at once,
// requests in flight finish on the one they started with.
//
// Threading: current() from any thread (the request path: one mutex-guarded shared_ptr copy).
// apply() and rollback() may be called from any thread; they are serialised (reload_mu_) and
// do blocking work (file I/O, loading trained models, one fsynced SQLite insert), so they run
// on the signal thread or the config API's worker, never on an I/O thread.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "engine/built_config.h"
#include "server/access_control.h"
#include "server/serving.h"
#include "telemetry/config_history_db.h"
#include "telemetry/metrics.h"
#include "telemetry/store_reader.h"

namespace triage::server {

// Who applied a version (the history's `who`).
inline constexpr std::string_view kAppliedAtStartup = "startup";
inline constexpr std::string_view kAppliedBySighup = "sighup";

// The first field whose value differs between `running` and `next` among those that cannot
// change without a restart (the listener, the store, the admin credential, OTLP export, the
// review rules), as "server.port: cannot change on reload (8080 -> 9090); restart the
// gateway"; nullopt when there is none. Pure.
std::optional<std::string> restart_only_change(const config::Config& running,
                                               const config::Config& next);

class ConfigVersions {
 public:
  // Versions `startup` (loaded, adjusted and built by the caller, as `serve` does): seq 1 in a new
  // store; in a store with history, the latest seq when its hash is the same (a restart on an
  // unchanged file is the same version), else the next seq, recorded with who "startup".
  // `adjust` is applied to every reloaded file (the command line's overrides). Sets the
  // triage_config_version gauge; every snapshot's breaker transitions go to `metrics`.
  // Without a store that can be read back (store.type none, ':memory:') the history is kept in
  // memory only. Throws like start-up (config::ConfigError, std::runtime_error).
  ConfigVersions(std::unique_ptr<engine::BuiltConfig> startup, engine::ConfigAdjust adjust,
                 providers::EnvLookup env, telemetry::Metrics& metrics, AccessControl& access);

  std::shared_ptr<const Serving> current() const { return holder_.current(); }

  // Validates `yaml_text` as the file `path`, and applies it as the next version. Error
  // (kInvalidRequest) with the loader's "FILE:LINE: PATH: message" text, or the restart-only
  // field, when refused: the running version keeps serving. Counts
  // triage_config_reloads_total{result}.
  Result<config::ConfigVersion> apply(const std::string& yaml_text, const std::string& path,
                                      std::string_view who, const std::string& reason);
  // SIGHUP: re-reads the file the gateway was started with and applies it.
  Result<config::ConfigVersion> reload_file(const std::string& reason);
  // Re-applies version `seq` from the history as a new version, recorded with `who` and the
  // reason "rollback to version N" (": " and `reason` when one is given). kNotFound when
  // there is no such version.
  Result<config::ConfigVersion> rollback(int64_t seq, std::string_view who,
                                         const std::string& reason);

  // Replicas sharing one store (store.config_poll_ms > 0, docs/scaling.md "One config"): when
  // the store's history has a version newer than the serving one (applied by another replica),
  // builds it from its stored YAML and serves it under that seq, without recording anything.
  // The adopted version, nullopt when there is nothing newer (or no store), or the error when
  // it does not build here (the serving version stays; the same seq is not tried again).
  // Blocking (store read, model files): the follower's thread, never an I/O thread.
  Result<std::optional<config::ConfigVersion>> follow_store();

  // The history, by seq (YAML only with `with_yaml`), and one version with its YAML.
  Result<std::vector<telemetry::StoredConfigVersion>> history(bool with_yaml);
  Result<std::optional<telemetry::StoredConfigVersion>> find(int64_t seq);

  // Knob moves (server/knobs_api.h): recorded in the store (or memory without one), newest
  // first when listed.
  Result<void> record_knob_event(const telemetry::StoredKnobEvent& e);
  Result<std::vector<telemetry::StoredKnobEvent>> knob_events(int64_t limit);
  // The moves of `config_version` after event id `after_id`, oldest first (with ids).
  Result<std::vector<telemetry::StoredKnobEvent>> knob_events_after(int64_t after_id,
                                                                    int64_t config_version);
  // store.config_poll_ms > 0 at start-up: replicas share this store (docs/scaling.md).
  bool fleet() const { return follow_; }
  // The SLO controller's state (server/slo_controller.h), in the store (or memory without one).
  Result<std::vector<telemetry::StoredSloState>> slo_states();
  Result<void> save_slo_state(const telemetry::StoredSloState& s);

 private:
  // Swaps in `next` and records it (under reload_mu_). With `adopted` (a version another
  // replica recorded), serves it under that seq and records nothing.
  Result<config::ConfigVersion> install(std::unique_ptr<engine::BuiltConfig> built,
                                        std::string_view who, const std::string& reason,
                                        std::optional<config::ConfigVersion> adopted = {});
  // Builds version `seq` of the store's history; null (logged) when it cannot be read or does
  // not build here.
  std::unique_ptr<engine::BuiltConfig> build_stored(int64_t seq);
  // The store's newest recorded version, nullopt with no store or an empty history.
  Result<std::optional<telemetry::StoredConfigVersion>> latest_stored();
  Result<void> record(const telemetry::StoredConfigVersion& v);
  void observe_breakers(const Serving& s);

  engine::ConfigAdjust adjust_;
  providers::EnvLookup env_;
  telemetry::Metrics& metrics_;
  AccessControl& access_;
  const std::string startup_path_;
  const int64_t created_s_;
  ServingHolder holder_;

  std::mutex reload_mu_;  // serialises apply/rollback; guards the members below
  std::unique_ptr<telemetry::StoreReader> store_;  // writable; null: history in memory only
  std::vector<telemetry::StoredConfigVersion> memory_history_;  // without a store
  std::vector<telemetry::StoredKnobEvent> memory_knob_events_;  // without a store, oldest first
  std::vector<telemetry::StoredSloState> memory_slo_states_;    // without a store
  int64_t last_seq_ = 0;
  int64_t refused_seq_ = 0;  // a stored version that did not build here: not tried again
  const bool follow_ = false;  // store.config_poll_ms > 0
};

}  // namespace triage::server

#include "server/config_versions.h"

#include <spdlog/spdlog.h>

#include <sstream>

#include "common/clock.h"

namespace triage::server {

namespace {

template <typename T>
std::string show(const T& v) {
  std::ostringstream out;
  out << v;
  return out.str();
}
std::string show(const std::string& v) { return "'" + v + "'"; }
std::string show(bool v) { return v ? "true" : "false"; }

// Collects the first differing restart-only field.
struct FieldCompare {
  std::optional<std::string> first;
  template <typename T>
  void operator()(const char* field, const T& running, const T& next) {
    if (first || running == next) return;
    first = std::string(field) + ": cannot change on reload (" + show(running) + " -> " +
            show(next) + "); restart the gateway to change it";
  }
};

Error refused(std::string message) {
  return make_error(ErrorCode::kInvalidRequest, std::move(message));
}

}  // namespace

std::optional<std::string> restart_only_change(const config::Config& a, const config::Config& b) {
  FieldCompare c;
  c("server.host", a.server.host, b.server.host);
  c("server.port", a.server.port, b.server.port);
  c("server.threads", a.server.threads, b.server.threads);
  c("server.max_body_bytes", a.server.max_body_bytes, b.server.max_body_bytes);
  c("server.idle_timeout_ms", a.server.idle_timeout_ms, b.server.idle_timeout_ms);
  c("server.busy_poll_us", a.server.busy_poll_us, b.server.busy_poll_us);
  c("server.max_requests_per_thread", a.server.max_requests_per_thread,
    b.server.max_requests_per_thread);
  c("store.type", a.store.type, b.store.type);
  c("store.path", a.store.path, b.store.path);
  c("store.url", a.store.url, b.store.url);
  c("store.password_env", a.store.password_env, b.store.password_env);
  c("store.queue_capacity", a.store.queue_capacity, b.store.queue_capacity);
  c("store.batch_size", a.store.batch_size, b.store.batch_size);
  c("store.flush_interval_ms", a.store.flush_interval_ms, b.store.flush_interval_ms);
  c("store.keep_payloads", a.store.keep_payloads, b.store.keep_payloads);
  c("store.leader_lease_ms", a.store.leader_lease_ms, b.store.leader_lease_ms);
  c("auth", a.auth.has_value(), b.auth.has_value());
  if (a.auth && b.auth) {
    c("auth.admin_token_env", a.auth->admin_token_env, b.auth->admin_token_env);
  }
  c("otel", a.otel.has_value(), b.otel.has_value());
  if (a.otel && b.otel) {
    c("otel.endpoint", a.otel->endpoint, b.otel->endpoint);
    c("otel.service_name", a.otel->service_name, b.otel->service_name);
    c("otel.headers", a.otel->headers.size(), b.otel->headers.size());
  }
  c("review.sample_large", a.review.sample_large, b.review.sample_large);
  c("review.negative_feedback", a.review.negative_feedback, b.review.negative_feedback);
  c("review.flags", a.review.flags.size(), b.review.flags.size());
  return c.first;
}

ConfigVersions::ConfigVersions(std::unique_ptr<engine::BuiltConfig> built,
                               engine::ConfigAdjust adjust, providers::EnvLookup env,
                               telemetry::Metrics& metrics, AccessControl& access)
    : adjust_(std::move(adjust)),
      env_(std::move(env)),
      metrics_(metrics),
      access_(access),
      startup_path_(built->cfg.path),
      created_s_(unix_time_ms() / 1000),
      follow_(built->cfg.store.config_poll_ms > 0) {
  const config::Config& startup = built->cfg;
  telemetry::StoreReaderOptions options;
  options.review_writes = true;
  if (auto reader = telemetry::open_store_reader(startup, options, "the config history")) {
    store_ = std::move(reader).value();
  } else {
    spdlog::info("config history kept in memory only: {}", reader.error().message);
  }
  config::ConfigVersion version{1, config::content_sha256(startup.text)};
  bool recorded = false;
  bool adopted = false;
  if (store_) {
    auto stored = latest_stored();
    if (!stored) throw std::runtime_error("config history: " + stored.error().message);
    if (stored.value()) {
      const telemetry::StoredConfigVersion& latest = *stored.value();
      recorded = latest.sha256 == version.sha256;
      version.seq = recorded ? latest.seq : latest.seq + 1;
      if (!recorded && follow_) {
        // A replica joining a fleet serves the fleet's version, not its (older) file.
        if (std::unique_ptr<engine::BuiltConfig> fleet = build_stored(latest.seq)) {
          built = std::move(fleet);  // `startup` is not used past this point
          version = {latest.seq, latest.sha256};
          recorded = true;
          adopted = true;
          spdlog::info("config: serving the store's version {} (applied by {}), not {}: "
                       "store.config_poll_ms follows the fleet's history",
                       latest.seq, latest.who, startup_path_);
        }
      }
    }
  }
  const std::string text = built->cfg.text;
  auto serving = make_serving(std::move(built), version, env_, created_s_);
  if (adopted) {
    if (auto keys = access_.keys().replace_source(control::KeySource::kConfig, serving->config_keys);
        !keys) {
      throw std::runtime_error("config version " + std::to_string(version.seq) +
                               ": auth.keys: " + keys.error().message);
    }
  }
  if (!recorded) {
    auto r = record({version.seq, version.sha256, unix_time_ms(), std::string(kAppliedAtStartup),
                     "", text});
    if (!r) throw std::runtime_error("config history: " + r.error().message);
  }
  last_seq_ = version.seq;
  observe_breakers(*serving);
  holder_.replace(std::move(serving));
  metrics_.set_config_version(version.seq);
}

void ConfigVersions::observe_breakers(const Serving& s) {
  // Circuit state per model deployment in /metrics; a new snapshot's breakers start closed
  // (docs/config_versions.md). The metrics outlive every snapshot.
  for (const auto& m : s.routes().models()) {
    for (const auto& d : m->balancer().stats()) {
      metrics_.record_breaker(m->model().name, d.name, "closed", false);
    }
  }
  s.routes().set_breaker_observer(
      [metrics = &metrics_](const std::string& model, const control::BreakerTransition& t) {
        metrics->record_breaker(model, t.breaker, control::breaker_state_name(t.to));
      });
}

Result<config::ConfigVersion> ConfigVersions::apply(const std::string& yaml_text,
                                                    const std::string& path,
                                                    std::string_view who,
                                                    const std::string& reason) {
  std::unique_ptr<engine::BuiltConfig> built;
  try {
    built = engine::build_config(yaml_text, path, env_, adjust_);
  } catch (const std::exception& e) {  // ConfigError, or a model file that cannot be loaded
    metrics_.count_config_reload(false);
    return refused(e.what());
  }
  return install(std::move(built), who, reason);
}

std::unique_ptr<engine::BuiltConfig> ConfigVersions::build_stored(int64_t seq) {
  auto stored = find(seq);
  if (!stored || !stored.value()) {
    spdlog::error("config version {}: not read from the store: {}", seq,
                  stored ? "no such version" : stored.error().message);
    return nullptr;
  }
  try {
    // Relative paths resolve against this replica's config directory, as for POST /admin/config.
    return engine::build_config(stored.value()->yaml, startup_path_, env_, adjust_);
  } catch (const std::exception& e) {
    spdlog::error("config version {} (applied by {}) does not build here, keeping the serving "
                  "one: {}", seq, stored.value()->who, e.what());
    return nullptr;
  }
}

Result<std::optional<config::ConfigVersion>> ConfigVersions::follow_store() {
  auto stored = latest_stored();
  if (!stored) return stored.error();
  if (!stored.value()) return std::optional<config::ConfigVersion>();
  const telemetry::StoredConfigVersion latest = *stored.value();
  {
    std::lock_guard lk(reload_mu_);
    if (latest.seq <= last_seq_ || latest.seq == refused_seq_) {
      return std::optional<config::ConfigVersion>();
    }
  }
  std::unique_ptr<engine::BuiltConfig> built = build_stored(latest.seq);
  if (!built) {
    std::lock_guard lk(reload_mu_);
    refused_seq_ = latest.seq;
    metrics_.count_config_reload(false);
    return make_error(ErrorCode::kInvalidRequest,
                      "config version " + std::to_string(latest.seq) + " does not build here");
  }
  auto installed = install(std::move(built), latest.who, latest.reason,
                           config::ConfigVersion{latest.seq, latest.sha256});
  if (!installed) return installed.error();
  return std::optional<config::ConfigVersion>(installed.value());
}

Result<config::ConfigVersion> ConfigVersions::reload_file(const std::string& reason) {
  std::string text;
  try {
    text = config::read_config_file(startup_path_);
  } catch (const std::exception& e) {
    metrics_.count_config_reload(false);
    return refused(e.what());
  }
  return apply(text, startup_path_, kAppliedBySighup, reason);
}

Result<config::ConfigVersion> ConfigVersions::rollback(int64_t seq, std::string_view who,
                                                       const std::string& reason) {
  Result<std::optional<telemetry::StoredConfigVersion>> past = find(seq);
  if (!past) return past.error();
  if (!past.value()) {
    return make_error(ErrorCode::kNotFound, "no config version " + std::to_string(seq) +
                                                "; GET /admin/config lists the versions");
  }
  std::string why = "rollback to version " + std::to_string(seq);
  if (!reason.empty()) why += ": " + reason;
  return apply(past.value()->yaml, startup_path_, who, why);
}

Result<config::ConfigVersion> ConfigVersions::install(std::unique_ptr<engine::BuiltConfig> built,
                                                      std::string_view who,
                                                      const std::string& reason,
                                                      std::optional<config::ConfigVersion> adopted) {
  std::lock_guard lk(reload_mu_);
  if (adopted && adopted->seq <= last_seq_) return *adopted;  // adopted meanwhile
  if (follow_ && !adopted) {
    // Another replica may have recorded versions this one has not adopted yet: take the next
    // free seq (the store's key refuses a duplicate, so two racing replicas cannot both win).
    if (auto latest = latest_stored(); latest && latest.value()) {
      last_seq_ = std::max(last_seq_, latest.value()->seq);
    }
  }
  const std::shared_ptr<const Serving> running = holder_.current();
  std::shared_ptr<const Serving> next;
  try {
    if (std::optional<std::string> why = restart_only_change(running->cfg(), built->cfg)) {
      metrics_.count_config_reload(false);
      return refused(built->cfg.path + ": " + *why);
    }
    config::ConfigVersion version{last_seq_ + 1, config::content_sha256(built->cfg.text)};
    if (adopted) version = *adopted;
    next = make_serving(std::move(built), std::move(version), env_, created_s_);
  } catch (const std::exception& e) {  // a key's secret unset
    metrics_.count_config_reload(false);
    return refused(e.what());
  }
  if (auto keys = access_.keys().replace_source(control::KeySource::kConfig, next->config_keys);
      !keys) {
    metrics_.count_config_reload(false);
    return refused(next->cfg().path + ": auth.keys: " + keys.error().message);
  }
  const config::ConfigVersion version = next->version;
  if (auto r = adopted ? Result<void>()
                       : record({version.seq, version.sha256, unix_time_ms(), std::string(who),
                                 reason, next->cfg().text});
      !r) {
    // The running version keeps serving; its keys go back too.
    (void)access_.keys().replace_source(control::KeySource::kConfig, running->config_keys);
    metrics_.count_config_reload(false);
    return make_error(ErrorCode::kInternal, "config version not applied: the history could not "
                                            "be written", r.error().message);
  }
  last_seq_ = version.seq;
  observe_breakers(*next);
  holder_.replace(std::move(next));
  metrics_.set_config_version(version.seq);
  metrics_.count_config_reload(true);
  spdlog::info("config version {} {} by {} (sha256 {}){}{}", version.seq,
               adopted ? "adopted from the store, applied" : "applied", who,
               version.sha256.substr(0, 12), reason.empty() ? "" : ": ", reason);
  return version;
}

Result<std::optional<telemetry::StoredConfigVersion>> ConfigVersions::latest_stored() {
  if (!store_) return std::optional<telemetry::StoredConfigVersion>();
  auto past = store_->list_config_versions(false);
  if (!past) return past.error();
  if (past->empty()) return std::optional<telemetry::StoredConfigVersion>();
  return std::optional<telemetry::StoredConfigVersion>(past->back());
}

Result<void> ConfigVersions::record(const telemetry::StoredConfigVersion& v) {
  if (store_) return store_->insert_config_version(v);
  memory_history_.push_back(v);
  return {};
}

Result<std::vector<telemetry::StoredConfigVersion>> ConfigVersions::history(bool with_yaml) {
  if (store_) return store_->list_config_versions(with_yaml);
  std::lock_guard lk(reload_mu_);
  std::vector<telemetry::StoredConfigVersion> out = memory_history_;
  if (!with_yaml) {
    for (auto& v : out) v.yaml.clear();
  }
  return out;
}

Result<std::optional<telemetry::StoredConfigVersion>> ConfigVersions::find(int64_t seq) {
  if (store_) return store_->find_config_version(seq);
  std::lock_guard lk(reload_mu_);
  for (const auto& v : memory_history_) {
    if (v.seq == seq) return std::optional<telemetry::StoredConfigVersion>(v);
  }
  return std::optional<telemetry::StoredConfigVersion>();
}

Result<void> ConfigVersions::record_knob_event(const telemetry::StoredKnobEvent& e) {
  if (store_) return store_->insert_knob_event(e);
  std::lock_guard lk(reload_mu_);
  memory_knob_events_.push_back(e);
  memory_knob_events_.back().id = static_cast<int64_t>(memory_knob_events_.size());
  return {};
}

Result<std::vector<telemetry::StoredKnobEvent>> ConfigVersions::knob_events_after(
    int64_t after_id, int64_t config_version) {
  if (store_) return store_->list_knob_events_after(after_id, config_version);
  std::lock_guard lk(reload_mu_);
  std::vector<telemetry::StoredKnobEvent> out;
  for (const auto& e : memory_knob_events_) {
    if (e.id > after_id && e.config_version == config_version) out.push_back(e);
  }
  return out;
}

Result<std::vector<telemetry::StoredKnobEvent>> ConfigVersions::knob_events(int64_t limit) {
  if (store_) return store_->list_knob_events(limit);
  std::lock_guard lk(reload_mu_);
  std::vector<telemetry::StoredKnobEvent> out;
  for (auto it = memory_knob_events_.rbegin();
       it != memory_knob_events_.rend() && static_cast<int64_t>(out.size()) < limit; ++it) {
    out.push_back(*it);
  }
  return out;
}

Result<std::vector<telemetry::StoredSloState>> ConfigVersions::slo_states() {
  if (store_) return store_->list_slo_states();
  std::lock_guard lk(reload_mu_);
  return memory_slo_states_;
}

Result<void> ConfigVersions::save_slo_state(const telemetry::StoredSloState& st) {
  if (store_) return store_->save_slo_state(st);
  std::lock_guard lk(reload_mu_);
  for (auto& s : memory_slo_states_) {
    if (s.slo == st.slo) {
      s = st;
      return {};
    }
  }
  memory_slo_states_.push_back(st);
  return {};
}

}  // namespace triage::server

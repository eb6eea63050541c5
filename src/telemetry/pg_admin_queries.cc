// PgStoreReader: the admin API's durable state, ported from sqlite_key_queries.cc,
// sqlite_config_queries.cc and sqlite_rollout_queries.cc: keys created through the admin API
// (telemetry/key_db.h), the config history, knob moves and SLO controller state
// (config_history_db.h), and progressive rollouts (rollout_db.h). Each write is its own
// committed statement; reads see the tables of schema version 10, which every PostgreSQL
// store has.
#include "telemetry/pg_reader.h"
#include "telemetry/store_rows.h"

namespace triage::telemetry {
namespace {

Error no_key(const std::string& id) {
  return make_error(ErrorCode::kNotFound, "no key with id '" + id + "'");
}

}  // namespace

// ---- KeyDb

Result<std::vector<KeyPeriodSpend>> PgStoreReader::key_spend(int64_t day_start_ms,
                                                             int64_t month_start_ms) {
  std::lock_guard lk(mu_);
  auto s = query(
      "SELECT api_key_id, COALESCE(SUM(cost_usd) FILTER (WHERE ts_ms >= $1), 0), "
      "COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts_ms >= $2 AND api_key_id IS NOT NULL "
      "AND api_key_id != '' GROUP BY api_key_id ORDER BY api_key_id",
      pg::Params().add(day_start_ms).add(month_start_ms));
  if (!s) return sql_error("sum spend per key", s.error());
  std::vector<KeyPeriodSpend> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back(KeyPeriodSpend{s->text(i, 0), s->real(i, 1), s->real(i, 2)});
  }
  return out;
}

Result<std::vector<StoredKey>> PgStoreReader::list_keys() {
  std::lock_guard lk(mu_);
  auto s = query(
      "SELECT id, sha256, name, routes, models, cohort, requests_per_minute, tokens_per_minute, "
      "usd_per_day, usd_per_month, disabled, created_ms, updated_ms FROM api_keys ORDER BY id");
  if (!s) return sql_error("list keys", s.error());
  std::vector<StoredKey> out;
  for (int i = 0; i < s->rows(); ++i) {
    StoredKey k;
    k.id = s->text(i, 0);
    k.sha256_hex = s->text(i, 1);
    k.name = s->text(i, 2);
    k.routes = split_list(s->text(i, 3), '\n');
    k.models = split_list(s->text(i, 4), '\n');
    k.cohort = s->text(i, 5);
    k.requests_per_minute = s->i64(i, 6);
    k.tokens_per_minute = s->i64(i, 7);
    k.usd_per_day = s->real(i, 8);
    k.usd_per_month = s->real(i, 9);
    k.disabled = s->i64(i, 10) != 0;
    k.created_ms = s->i64(i, 11);
    k.updated_ms = s->i64(i, 12);
    out.push_back(std::move(k));
  }
  return out;
}

Result<void> PgStoreReader::insert_key(const StoredKey& k) {
  std::lock_guard lk(mu_);
  if (auto w = writable("key store"); !w) return w.error();
  auto s = write(
      "INSERT INTO api_keys (id, sha256, name, routes, models, cohort, requests_per_minute, "
      "tokens_per_minute, usd_per_day, usd_per_month, disabled, created_ms, updated_ms) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
      pg::Params()
          .add(k.id)
          .add(k.sha256_hex)
          .add(k.name)
          .add(join_list(k.routes, '\n'))
          .add(join_list(k.models, '\n'))
          .add(k.cohort)
          .add(k.requests_per_minute)
          .add(k.tokens_per_minute)
          .add(k.usd_per_day)
          .add(k.usd_per_month)
          .add(k.disabled)
          .add(k.created_ms)
          .add(k.updated_ms));
  if (!s) return sql_error("insert key", s.error());
  return {};
}

Result<void> PgStoreReader::set_key_disabled(const std::string& id, bool disabled, int64_t now_ms) {
  std::lock_guard lk(mu_);
  if (auto w = writable("key store"); !w) return w.error();
  auto s = write("UPDATE api_keys SET disabled = $2, updated_ms = $3 WHERE id = $1",
                 pg::Params().add(id).add(disabled).add(now_ms));
  if (!s) return sql_error("update key", s.error());
  if (s->affected() == 0) return no_key(id);
  return {};
}

Result<void> PgStoreReader::delete_key(const std::string& id) {
  std::lock_guard lk(mu_);
  if (auto w = writable("key store"); !w) return w.error();
  auto s = write("DELETE FROM api_keys WHERE id = $1", pg::Params().add(id));
  if (!s) return sql_error("delete key", s.error());
  if (s->affected() == 0) return no_key(id);
  return {};
}

// ---- ConfigHistoryDb

Result<std::vector<StoredConfigVersion>> PgStoreReader::list_config_versions(bool with_yaml) {
  std::lock_guard lk(mu_);
  auto s = query(with_yaml ? "SELECT seq, sha256, applied_ms, who, reason, yaml "
                             "FROM config_versions ORDER BY seq"
                           : "SELECT seq, sha256, applied_ms, who, reason, '' "
                             "FROM config_versions ORDER BY seq");
  if (!s) return sql_error("list config versions", s.error());
  std::vector<StoredConfigVersion> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back(StoredConfigVersion{s->i64(i, 0), s->text(i, 1), s->i64(i, 2), s->text(i, 3),
                                      s->text(i, 4), s->text(i, 5)});
  }
  return out;
}

Result<std::optional<StoredConfigVersion>> PgStoreReader::find_config_version(int64_t seq) {
  std::lock_guard lk(mu_);
  auto s =
      query("SELECT seq, sha256, applied_ms, who, reason, yaml FROM config_versions WHERE seq = $1",
            pg::Params().add(seq));
  if (!s) return sql_error("read config version", s.error());
  if (s->rows() == 0) return std::optional<StoredConfigVersion>();
  return std::optional<StoredConfigVersion>(StoredConfigVersion{
      s->i64(0, 0), s->text(0, 1), s->i64(0, 2), s->text(0, 3), s->text(0, 4), s->text(0, 5)});
}

Result<void> PgStoreReader::insert_config_version(const StoredConfigVersion& v) {
  std::lock_guard lk(mu_);
  if (auto w = writable("config history"); !w) return w.error();
  auto s = write(
      "INSERT INTO config_versions (seq, sha256, applied_ms, who, reason, yaml) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      pg::Params().add(v.seq).add(v.sha256).add(v.applied_ms).add(v.who).add(v.reason).add(v.yaml));
  if (!s) return sql_error("insert config version", s.error());
  return {};
}

namespace {

constexpr const char* kKnobEventColumns =
    "SELECT ts_ms, route, knob, before, after, who, reason, config_version, replica, id, "
    "observe "
    "FROM knob_events ";

std::vector<StoredKnobEvent> knob_event_rows(const pg::ResultSet& s) {
  std::vector<StoredKnobEvent> out;
  for (int i = 0; i < s.rows(); ++i) {
    out.push_back(StoredKnobEvent{s.i64(i, 0), s.text(i, 1), s.text(i, 2), s.real(i, 3),
                                  s.real(i, 4), s.text(i, 5), s.text(i, 6), s.i64(i, 7),
                                  s.text(i, 8), s.i64(i, 9), s.i64(i, 10) != 0});
  }
  return out;
}

}  // namespace

Result<std::vector<StoredKnobEvent>> PgStoreReader::list_knob_events(int64_t limit) {
  std::lock_guard lk(mu_);
  auto s = query(std::string(kKnobEventColumns) + "ORDER BY id DESC LIMIT $1",
                 pg::Params().add(limit));
  if (!s) return sql_error("list knob events", s.error());
  return knob_event_rows(*s);
}

Result<std::vector<StoredKnobEvent>> PgStoreReader::list_knob_events_after(
    int64_t after_id, int64_t config_version) {
  std::lock_guard lk(mu_);
  auto s = query(std::string(kKnobEventColumns) +
                     "WHERE config_version = $1 AND id > $2 ORDER BY id",
                 pg::Params().add(config_version).add(after_id));
  if (!s) return sql_error("list knob events", s.error());
  return knob_event_rows(*s);
}

Result<void> PgStoreReader::insert_knob_event(const StoredKnobEvent& e) {
  std::lock_guard lk(mu_);
  if (auto w = writable("config history"); !w) return w.error();
  auto s = write(
      "INSERT INTO knob_events (ts_ms, route, knob, before, after, who, reason, "
      "config_version, replica, observe) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      pg::Params()
          .add(e.ts_ms)
          .add(e.route)
          .add(e.knob)
          .add(e.before)
          .add(e.after)
          .add(e.who)
          .add(e.reason)
          .add(e.config_version)
          .add(e.replica)
          .add(e.observe));
  if (!s) return sql_error("insert knob event", s.error());
  return {};
}

Result<std::vector<StoredSloState>> PgStoreReader::list_slo_states() {
  std::lock_guard lk(mu_);
  auto s = query(
      "SELECT slo, route, knob, file_value, value, last_move_ms, observe FROM slo_state "
      "ORDER BY slo");
  if (!s) return sql_error("list SLO state", s.error());
  std::vector<StoredSloState> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back(StoredSloState{s->text(i, 0), s->text(i, 1), s->text(i, 2), s->real(i, 3),
                                 s->real(i, 4), s->i64(i, 5), s->i64(i, 6) != 0});
  }
  return out;
}

Result<void> PgStoreReader::save_slo_state(const StoredSloState& st) {
  std::lock_guard lk(mu_);
  if (auto w = writable("config history"); !w) return w.error();
  auto s = write(
      "INSERT INTO slo_state (slo, route, knob, file_value, value, last_move_ms, observe) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (slo) DO UPDATE SET "
      "route = excluded.route, knob = excluded.knob, file_value = excluded.file_value, "
      "value = excluded.value, last_move_ms = excluded.last_move_ms, observe = excluded.observe",
      pg::Params()
          .add(st.slo)
          .add(st.route)
          .add(st.knob)
          .add(st.file_value)
          .add(st.value)
          .add(st.last_move_ms)
          .add(st.observe));
  if (!s) return sql_error("save SLO state", s.error());
  return {};
}

// ---- RolloutDb

Result<std::vector<StoredRollout>> PgStoreReader::list_rollouts() {
  std::lock_guard lk(mu_);
  auto s = query(
      "SELECT route, fingerprint, state, step, step_started_ms, updated_ms, baseline_requests, "
      "baseline_success, baseline_p95_ms, baseline_cost FROM rollouts ORDER BY route");
  if (!s) return sql_error("list rollouts", s.error());
  std::vector<StoredRollout> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back(StoredRollout{s->text(i, 0), s->text(i, 1), s->text(i, 2), s->i64(i, 3),
                                s->i64(i, 4), s->i64(i, 5), s->i64(i, 6), s->real(i, 7),
                                s->real(i, 8), s->real(i, 9)});
  }
  return out;
}

Result<void> PgStoreReader::save_rollout(const StoredRollout& r) {
  std::lock_guard lk(mu_);
  if (auto w = writable("rollout state"); !w) return w.error();
  auto s = write(
      "INSERT INTO rollouts (route, fingerprint, state, step, step_started_ms, updated_ms, "
      "baseline_requests, baseline_success, baseline_p95_ms, baseline_cost) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (route) DO UPDATE SET "
      "fingerprint = excluded.fingerprint, state = excluded.state, step = excluded.step, "
      "step_started_ms = excluded.step_started_ms, updated_ms = excluded.updated_ms, "
      "baseline_requests = excluded.baseline_requests, "
      "baseline_success = excluded.baseline_success, "
      "baseline_p95_ms = excluded.baseline_p95_ms, baseline_cost = excluded.baseline_cost",
      pg::Params()
          .add(r.route)
          .add(r.fingerprint)
          .add(r.state)
          .add(r.step)
          .add(r.step_started_ms)
          .add(r.updated_ms)
          .add(r.baseline_requests)
          .add(r.baseline_success)
          .add(r.baseline_p95_ms)
          .add(r.baseline_cost));
  if (!s) return sql_error("save rollout", s.error());
  return {};
}

Result<void> PgStoreReader::insert_rollout_event(const StoredRolloutEvent& e) {
  std::lock_guard lk(mu_);
  if (auto w = writable("rollout state"); !w) return w.error();
  auto s = write(
      "INSERT INTO rollout_events (ts_ms, route, kind, state, step, percent, reason, "
      "config_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      pg::Params()
          .add(e.ts_ms)
          .add(e.route)
          .add(e.kind)
          .add(e.state)
          .add(e.step)
          .add(e.percent)
          .add(e.reason)
          .add(e.config_version));
  if (!s) return sql_error("insert rollout event", s.error());
  return {};
}

Result<std::vector<StoredRolloutEvent>> PgStoreReader::list_rollout_events(const std::string& route,
                                                                           int64_t limit) {
  std::lock_guard lk(mu_);
  auto s = query(
      "SELECT ts_ms, route, kind, state, step, percent, reason, config_version FROM "
      "(SELECT * FROM rollout_events WHERE route = $1 ORDER BY id DESC LIMIT $2) latest "
      "ORDER BY id",
      pg::Params().add(route).add(limit));
  if (!s) return sql_error("list rollout events", s.error());
  std::vector<StoredRolloutEvent> out;
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back(StoredRolloutEvent{s->i64(i, 0), s->text(i, 1), s->text(i, 2), s->text(i, 3),
                                     s->i64(i, 4), s->real(i, 5), s->text(i, 6), s->i64(i, 7)});
  }
  return out;
}

}  // namespace triage::telemetry

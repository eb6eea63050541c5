#include "telemetry/sqlite_schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <vector>

namespace triage::telemetry {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
  request_id       TEXT PRIMARY KEY,
  ts_ms            INTEGER NOT NULL,
  api_key_id       TEXT,
  cohort           TEXT,
  category         TEXT,
  user_id          TEXT,
  requested_model  TEXT,
  route            TEXT,
  model            TEXT,
  tier             TEXT,
  provider         TEXT,
  stream           INTEGER NOT NULL,
  tokens_in        INTEGER NOT NULL,
  tokens_out       INTEGER NOT NULL,
  tokens_estimated INTEGER NOT NULL,
  cost_usd         REAL NOT NULL,
  routing_us       INTEGER NOT NULL,
  queue_us         INTEGER NOT NULL,
  upstream_ttfb_us INTEGER NOT NULL,
  upstream_us      INTEGER NOT NULL,
  overhead_us      INTEGER NOT NULL,
  total_us         INTEGER NOT NULL,
  status           INTEGER NOT NULL,
  error_code       TEXT,
  error_message    TEXT,
  finish_reason    TEXT,
  synthesized      INTEGER NOT NULL,
  label            TEXT,
  confidence       REAL,
  flags            TEXT NOT NULL,
  spans            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_ts_ms ON requests(ts_ms);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');
)sql";

// Version 2 adds the human-in-the-loop tables (docs/store.md, docs/review.md). Run inside one
// transaction on every version-1 file, including a file just created with kSchema, so the
// migration path is the creation path and is exercised by every test.
constexpr const char* kMigrateV1ToV2 = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS review_queue (
  request_id  TEXT PRIMARY KEY,
  ts_ms       INTEGER NOT NULL,
  status      TEXT NOT NULL DEFAULT 'open',
  enqueued_ms INTEGER NOT NULL,
  updated_ms  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS review_queue_status_ts ON review_queue(status, ts_ms, request_id);
CREATE INDEX IF NOT EXISTS review_queue_ts ON review_queue(ts_ms, request_id);
CREATE TABLE IF NOT EXISTS review_reasons (
  reason     TEXT NOT NULL,
  ts_ms      INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  PRIMARY KEY (reason, ts_ms, request_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS review_reasons_request ON review_reasons(request_id);
CREATE TABLE IF NOT EXISTS feedback (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id       TEXT NOT NULL,
  ts_ms            INTEGER NOT NULL,
  score            REAL NOT NULL,
  thumbs           TEXT,
  corrected_answer TEXT,
  comment          TEXT
);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback(request_id, id);
CREATE TABLE IF NOT EXISTS labels (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id       TEXT NOT NULL,
  ts_ms            INTEGER NOT NULL,
  verdict          TEXT NOT NULL,
  sufficient_tier  TEXT,
  corrected_answer TEXT,
  reviewer         TEXT
);
CREATE INDEX IF NOT EXISTS labels_request ON labels(request_id, id);
CREATE TABLE IF NOT EXISTS prompts (
  request_id TEXT PRIMARY KEY,
  messages   TEXT NOT NULL,
  response   TEXT,
  attempts   TEXT NOT NULL
);
UPDATE meta SET value = '2' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 3 adds the per-minute rollup the dashboard aggregates (docs/store.md "Rollup"),
// backfilled from the existing rows in the same transaction, and drops the indexes it makes
// unnecessary (the dashboard's wide covering index, which doubled the bytes written per row,
// and the unused status index). Like v1->v2, it also runs on every newly created file.
// The three rollup tables share one shape; they differ in the time bucket and in which key
// columns they keep (rollup_model_minute folds everything but the model).
struct RollupTable {
  const char* name;
  const char* bucket;  // SQL over ts_ms giving the bucket's first minute
  const char* keys;    // SQL for tier, route, category, cohort
};
constexpr RollupTable kRollupShapes[] = {
    {"rollup_minute", "ts_ms / 60000",
     "COALESCE(tier, ''), COALESCE(route, ''), COALESCE(category, ''), COALESCE(cohort, '')"},
    {"rollup_hour", "ts_ms / 3600000 * 60",
     "COALESCE(tier, ''), COALESCE(route, ''), COALESCE(category, ''), COALESCE(cohort, '')"},
    {"rollup_model_minute", "ts_ms / 60000", "'', '', '', ''"},
};

std::string migrate_v2_to_v3_sql() {
  std::string sql = "BEGIN IMMEDIATE;\n";
  for (const RollupTable& t : kRollupShapes) {
    sql += fmt::format(
        "CREATE TABLE IF NOT EXISTS {} (\n"
        "  minute INTEGER NOT NULL, model TEXT NOT NULL, tier TEXT NOT NULL,\n"
        "  route TEXT NOT NULL, category TEXT NOT NULL, cohort TEXT NOT NULL,\n"
        "  requests INTEGER NOT NULL, client_errors INTEGER NOT NULL,\n"
        "  server_errors INTEGER NOT NULL, timeouts INTEGER NOT NULL, cost_usd REAL NOT NULL,\n"
        "  tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,\n"
        "  upstream_us INTEGER NOT NULL, total_us INTEGER NOT NULL,\n"
        "  PRIMARY KEY (minute, model, tier, route, category, cohort)\n"
        ") WITHOUT ROWID;\n"
        "DELETE FROM {};\n"
        "INSERT INTO {}\n"
        "  SELECT {}, COALESCE(model, ''), {}, COUNT(*),\n"
        "         TOTAL(status BETWEEN 400 AND 499), TOTAL(status >= 500),\n"
        "         TOTAL(error_code IS 'upstream_timeout'), TOTAL(cost_usd), TOTAL(tokens_in),\n"
        "         TOTAL(tokens_out), TOTAL(upstream_us), TOTAL(total_us)\n"
        "  FROM requests GROUP BY 1, 2, 3, 4, 5, 6;\n",
        t.name, t.name, t.name, t.bucket, t.keys);
  }
  sql +=
      "DROP INDEX IF EXISTS requests_dashboard;\n"
      "DROP INDEX IF EXISTS requests_status;\n"
      "UPDATE meta SET value = '3' WHERE key = 'schema_version';\n"
      "COMMIT;\n";
  return sql;
}

// Version 4 drops the per-model and per-route indexes of `requests`: no query reads them (the
// dashboard's per-model and per-route figures come from the rollup tables) and each cost the
// writer a B-tree insert per row (-7% instructions per proxied request, docs/performance.md).
constexpr const char* kMigrateV3ToV4 = R"sql(
BEGIN IMMEDIATE;
DROP INDEX IF EXISTS requests_model_ts_ms;
DROP INDEX IF EXISTS requests_route_ts_ms;
UPDATE meta SET value = '4' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 5 (issue 10, docs/security.md): the name of the client key beside its id, and the
// keys created through the admin API (digest only, never the secret) so they survive restarts.
// The column is added only where it is missing (a file migrated back by hand may have it).
constexpr const char* kAddKeyNameColumn = "ALTER TABLE requests ADD COLUMN api_key_name TEXT;\n";
constexpr const char* kMigrateV4ToV5 = R"sql(
CREATE TABLE IF NOT EXISTS api_keys (
  id             TEXT PRIMARY KEY,
  sha256         TEXT NOT NULL UNIQUE,
  name           TEXT NOT NULL,
  routes         TEXT NOT NULL,
  models         TEXT NOT NULL,
  cohort         TEXT NOT NULL,
  requests_per_minute INTEGER NOT NULL,
  tokens_per_minute   INTEGER NOT NULL,
  usd_per_day    REAL NOT NULL,
  usd_per_month  REAL NOT NULL,
  disabled       INTEGER NOT NULL,
  created_ms     INTEGER NOT NULL,
  updated_ms     INTEGER NOT NULL
);
UPDATE meta SET value = '5' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 6 (issue 11, docs/config_versions.md): the config version that served each request,
// the history of applied config versions (the YAML as applied: it names env vars and digests,
// never a secret) and the knob moves made at run time (docs/admin_api.md "Knobs"). Old rows
// keep a NULL version. The column is added only where missing, as in v5.
constexpr const char* kAddConfigVersionColumn =
    "ALTER TABLE requests ADD COLUMN config_version INTEGER;\n";
constexpr const char* kMigrateV5ToV6 = R"sql(
CREATE TABLE IF NOT EXISTS config_versions (
  seq        INTEGER PRIMARY KEY,
  sha256     TEXT NOT NULL,
  applied_ms INTEGER NOT NULL,
  who        TEXT NOT NULL,
  reason     TEXT NOT NULL,
  yaml       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS knob_events (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms          INTEGER NOT NULL,
  route          TEXT NOT NULL,
  knob           TEXT NOT NULL,
  before         REAL NOT NULL,
  after          REAL NOT NULL,
  who            TEXT NOT NULL,
  reason         TEXT NOT NULL,
  config_version INTEGER NOT NULL
);
UPDATE meta SET value = '6' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 7 (issue 13): the client API a request came in through (core::client_api_name:
// chat, messages, responses, embeddings). Rows written before it have NULL, read as "chat"
// (the only API there was). Added only where missing, like api_key_name.
constexpr const char* kAddApiColumn = "ALTER TABLE requests ADD COLUMN api TEXT;\n";
constexpr const char* kMigrateV6ToV7 = R"sql(
UPDATE meta SET value = '7' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 8 (issue 13, docs/cache.md): whether the response cache answered the request
// ("hit", "miss", "bypass"; NULL when the route or model it named has no cache). Added only
// where it is missing, like api_key_name.
constexpr const char* kAddCacheColumn = "ALTER TABLE requests ADD COLUMN cache TEXT;\n";
constexpr const char* kMigrateV7ToV8 = R"sql(
UPDATE meta SET value = '8' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 9 (issue 11, docs/rollout.md): progressive rollouts' state and timeline, so a
// rollout survives a restart.
constexpr const char* kMigrateV8ToV9 = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS rollouts (
  route             TEXT PRIMARY KEY,
  fingerprint       TEXT NOT NULL,
  state             TEXT NOT NULL,
  step              INTEGER NOT NULL,
  step_started_ms   INTEGER NOT NULL,
  updated_ms        INTEGER NOT NULL,
  baseline_requests INTEGER NOT NULL,
  baseline_success  REAL NOT NULL,
  baseline_p95_ms   REAL NOT NULL,
  baseline_cost     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rollout_events (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms          INTEGER NOT NULL,
  route          TEXT NOT NULL,
  kind           TEXT NOT NULL,
  state          TEXT NOT NULL,
  step           INTEGER NOT NULL,
  percent        REAL NOT NULL,
  reason         TEXT NOT NULL,
  config_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rollout_events_route ON rollout_events(route, id);
UPDATE meta SET value = '9' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 10 (issue 11, docs/slo.md "State"): where the SLO controller left each knob it moves
// (its position, the file's value it moved from, the last move), so a restart resumes there.
constexpr const char* kMigrateV9ToV10 = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS slo_state (
  slo          TEXT PRIMARY KEY,
  route        TEXT NOT NULL,
  knob         TEXT NOT NULL,
  file_value   REAL NOT NULL,
  value        REAL NOT NULL,
  last_move_ms INTEGER NOT NULL,
  observe      INTEGER NOT NULL
);
UPDATE meta SET value = '10' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 11 (issue 12, docs/scaling.md "One controller", "Knobs across replicas"): the
// leases replicas sharing the store take (telemetry/lease_db.h), and the replica that made
// each knob move (and whether it was only recorded, observe mode), so the others follow the
// moves they did not make. The column is added only
// where missing, as in v5.
constexpr const char* kAddKnobReplicaColumn =
    "ALTER TABLE knob_events ADD COLUMN replica TEXT NOT NULL DEFAULT '';\n";
constexpr const char* kAddKnobObserveColumn =
    "ALTER TABLE knob_events ADD COLUMN observe INTEGER NOT NULL DEFAULT 0;\n";
constexpr const char* kMigrateV10ToV11 = R"sql(
CREATE TABLE IF NOT EXISTS leases (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  expires_ms INTEGER NOT NULL,
  since_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS knob_events_version ON knob_events(config_version, id);
UPDATE meta SET value = '11' WHERE key = 'schema_version';
COMMIT;
)sql";

// Version 12 (issue 12, docs/scaling.md "Fleet numbers"): the window counts replicas sharing
// the store publish to each other (telemetry/window_slice_db.h). Small: each replica keeps
// only the live slices of its windows here.
constexpr const char* kMigrateV11ToV12 = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS window_slices (
  replica        TEXT NOT NULL,
  window_key     TEXT NOT NULL,
  slice_start_ms INTEGER NOT NULL,
  requests       INTEGER NOT NULL,
  ok             INTEGER NOT NULL,
  compared       INTEGER NOT NULL,
  agreed         INTEGER NOT NULL,
  cost_usd       REAL NOT NULL,
  latency        TEXT NOT NULL,
  updated_ms     INTEGER NOT NULL,
  PRIMARY KEY (replica, window_key, slice_start_ms)
);
CREATE INDEX IF NOT EXISTS window_slices_key ON window_slices(window_key, updated_ms);
UPDATE meta SET value = '12' WHERE key = 'schema_version';
COMMIT;
)sql";

bool has_column(sqlite::Connection& db, const char* table, const char* column) {
  sqlite::Statement s(db, "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2");
  if (!s.ok()) return false;
  s.bind(1, std::string(table)).bind(2, std::string(column));
  return s.step() == sqlite::Step::kRow && s.i64(0) > 0;
}
bool has_requests_column(sqlite::Connection& db, const char* column) {
  return has_column(db, "requests", column);
}

}  // namespace

void create_or_migrate_schema(sqlite::Connection& db, int target_version) {
  const std::string& path = db.path();
  if (auto r = db.exec(kSchema); !r) {
    throw std::runtime_error("request store " + path + ": cannot create schema: " +
                             r.error().message);
  }
  int version = db.schema_version().value_or(0);
  // migrations[k] takes a file from version k + 1 to k + 2.
  const bool has_key_name = has_requests_column(db, "api_key_name");
  const bool has_config_version = has_requests_column(db, "config_version");
  const bool has_api = has_requests_column(db, "api");
  const bool has_cache = has_requests_column(db, "cache");
  const bool has_knob_replica = has_column(db, "knob_events", "replica");
  const bool has_knob_observe = has_column(db, "knob_events", "observe");
  const std::vector<std::string> migrations = {
      kMigrateV1ToV2, migrate_v2_to_v3_sql(), kMigrateV3ToV4,
      std::string("BEGIN IMMEDIATE;\n") + (has_key_name ? "" : kAddKeyNameColumn) +
          kMigrateV4ToV5,
      std::string("BEGIN IMMEDIATE;\n") + (has_config_version ? "" : kAddConfigVersionColumn) +
          kMigrateV5ToV6,
      std::string("BEGIN IMMEDIATE;\n") + (has_api ? "" : kAddApiColumn) + kMigrateV6ToV7,
      std::string("BEGIN IMMEDIATE;\n") + (has_cache ? "" : kAddCacheColumn) + kMigrateV7ToV8,
      kMigrateV8ToV9, kMigrateV9ToV10,
      std::string("BEGIN IMMEDIATE;\n") + (has_knob_replica ? "" : kAddKnobReplicaColumn) +
          (has_knob_observe ? "" : kAddKnobObserveColumn) + kMigrateV10ToV11,
      kMigrateV11ToV12};
  const int last = static_cast<int>(migrations.size()) + 1;
  for (int from = version; from >= 1 && from < target_version && from < last; ++from) {
    if (auto r = db.exec(migrations[static_cast<size_t>(from - 1)]); !r) {
      (void)db.exec("ROLLBACK");
      throw std::runtime_error("request store " + path + ": cannot migrate schema from version " +
                               std::to_string(from) + " to " + std::to_string(from + 1) + ": " +
                               r.error().message);
    }
    spdlog::debug("request store {}: schema migrated from version {} to {}", path, from, from + 1);
    version = from + 1;
  }
  if (version != target_version) {
    throw std::runtime_error("request store " + path + ": unsupported schema_version " +
                             std::to_string(version) + " (this build reads and writes " +
                             std::to_string(target_version) + ")");
  }
}

}  // namespace triage::telemetry

// SqliteStoreReader: progressive rollouts' state and timeline (telemetry/rollout_db.h),
// tables `rollouts` and `rollout_events` (schema version 9).
#include "telemetry/sqlite_reader.h"

namespace triage::telemetry {
namespace {

using sqlite::Statement;

bool has_rollout_tables(sqlite::Connection& db) {
  Statement s(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'rollouts'");
  return s.ok() && s.step() == sqlite::Step::kRow && s.i64(0) > 0;
}

Error rollout_writes_off() {
  return make_error(ErrorCode::kInternal, "rollout state error: opened read-only",
                    "rollout writes need StoreReaderOptions::review_writes");
}

}  // namespace

Result<std::vector<StoredRollout>> SqliteStoreReader::list_rollouts() {
  std::lock_guard lk(read_mu_);
  std::vector<StoredRollout> out;
  if (!has_rollout_tables(read_)) return out;
  Statement s(read_, "SELECT route, fingerprint, state, step, step_started_ms, updated_ms, "
                     "baseline_requests, baseline_success, baseline_p95_ms, baseline_cost "
                     "FROM rollouts ORDER BY route");
  if (!s.ok()) return sql_error("list rollouts", read_);
  const bool read_all = s.for_each_row([&] {
    out.push_back(StoredRollout{s.text(0), s.text(1), s.text(2), s.i64(3), s.i64(4), s.i64(5),
                                s.i64(6), s.real(7), s.real(8), s.real(9)});
  });
  if (!read_all) return sql_error("list rollouts", read_);
  return out;
}

Result<void> SqliteStoreReader::save_rollout(const StoredRollout& r) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return rollout_writes_off();
  Statement s(write_,
              "INSERT OR REPLACE INTO rollouts (route, fingerprint, state, step, "
              "step_started_ms, updated_ms, baseline_requests, baseline_success, "
              "baseline_p95_ms, baseline_cost) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!s.ok()) return sql_error("save rollout", write_);
  s.bind(1, r.route).bind(2, r.fingerprint).bind(3, r.state).bind(4, r.step);
  s.bind(5, r.step_started_ms).bind(6, r.updated_ms).bind(7, r.baseline_requests);
  s.bind(8, r.baseline_success).bind(9, r.baseline_p95_ms).bind(10, r.baseline_cost);
  if (!s.run()) return sql_error("save rollout", write_);
  return {};
}

Result<void> SqliteStoreReader::insert_rollout_event(const StoredRolloutEvent& e) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return rollout_writes_off();
  Statement s(write_,
              "INSERT INTO rollout_events (ts_ms, route, kind, state, step, percent, reason, "
              "config_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!s.ok()) return sql_error("insert rollout event", write_);
  s.bind(1, e.ts_ms).bind(2, e.route).bind(3, e.kind).bind(4, e.state).bind(5, e.step);
  s.bind(6, e.percent).bind(7, e.reason).bind(8, e.config_version);
  if (!s.run()) return sql_error("insert rollout event", write_);
  return {};
}

Result<std::vector<StoredRolloutEvent>> SqliteStoreReader::list_rollout_events(
    const std::string& route, int64_t limit) {
  std::lock_guard lk(read_mu_);
  std::vector<StoredRolloutEvent> out;
  if (!has_rollout_tables(read_)) return out;
  Statement s(read_, "SELECT ts_ms, route, kind, state, step, percent, reason, config_version "
                     "FROM (SELECT * FROM rollout_events WHERE route = ?1 ORDER BY id DESC "
                     "LIMIT ?2) ORDER BY id");
  if (!s.ok()) return sql_error("list rollout events", read_);
  s.bind(1, route).bind(2, limit);
  const bool read_all = s.for_each_row([&] {
    out.push_back(StoredRolloutEvent{s.i64(0), s.text(1), s.text(2), s.text(3), s.i64(4),
                                     s.real(5), s.text(6), s.i64(7)});
  });
  if (!read_all) return sql_error("list rollout events", read_);
  return out;
}

}  // namespace triage::telemetry

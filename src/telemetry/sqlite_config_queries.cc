// SqliteStoreReader: the history of applied config versions (telemetry/config_history_db.h),
// table `config_versions` (schema version 6).
#include "telemetry/sqlite_reader.h"

namespace triage::telemetry {
namespace {

using sqlite::Statement;

// A store older than schema version 6 has neither table: its history is empty.
bool has_table(sqlite::Connection& db, const char* name) {
  Statement s(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1");
  if (!s.ok()) return false;
  s.bind(1, name);
  return s.step() == sqlite::Step::kRow && s.i64(0) > 0;
}
bool has_history_table(sqlite::Connection& db) { return has_table(db, "config_versions"); }

Error history_writes_off() {
  return make_error(ErrorCode::kInternal, "config history error: opened read-only",
                    "config history writes need StoreReaderOptions::review_writes");
}

}  // namespace

Result<std::vector<StoredConfigVersion>> SqliteStoreReader::list_config_versions(bool with_yaml) {
  std::lock_guard lk(read_mu_);
  std::vector<StoredConfigVersion> out;
  if (!has_history_table(read_)) return out;
  Statement s(read_, with_yaml ? "SELECT seq, sha256, applied_ms, who, reason, yaml "
                                 "FROM config_versions ORDER BY seq"
                               : "SELECT seq, sha256, applied_ms, who, reason, '' "
                                 "FROM config_versions ORDER BY seq");
  if (!s.ok()) return sql_error("list config versions", read_);
  const bool read_all = s.for_each_row([&] {
    out.push_back(StoredConfigVersion{s.i64(0), s.text(1), s.i64(2), s.text(3), s.text(4),
                                      s.text(5)});
  });
  if (!read_all) return sql_error("list config versions", read_);
  return out;
}

Result<std::optional<StoredConfigVersion>> SqliteStoreReader::find_config_version(int64_t seq) {
  std::lock_guard lk(read_mu_);
  if (!has_history_table(read_)) return std::optional<StoredConfigVersion>();
  Statement s(read_, "SELECT seq, sha256, applied_ms, who, reason, yaml FROM config_versions "
                     "WHERE seq = ?1");
  if (!s.ok()) return sql_error("read config version", read_);
  s.bind(1, seq);
  std::optional<StoredConfigVersion> out;
  const bool read_all = s.for_each_row([&] {
    out = StoredConfigVersion{s.i64(0), s.text(1), s.i64(2), s.text(3), s.text(4), s.text(5)};
  });
  if (!read_all) return sql_error("read config version", read_);
  return out;
}

Result<void> SqliteStoreReader::insert_config_version(const StoredConfigVersion& v) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return history_writes_off();
  Statement s(write_,
              "INSERT INTO config_versions (seq, sha256, applied_ms, who, reason, yaml) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!s.ok()) return sql_error("insert config version", write_);
  s.bind(1, v.seq).bind(2, v.sha256).bind(3, v.applied_ms).bind(4, v.who).bind(5, v.reason);
  s.bind(6, v.yaml);
  if (!s.run()) return sql_error("insert config version", write_);
  return {};
}

namespace {

// The columns every knob event query reads, in StoredKnobEvent's order; `replica` and
// `observe` only from schema version 11 on.
std::string knob_event_columns(sqlite::Connection& db) {
  sqlite::Statement s(db, "SELECT COUNT(*) FROM pragma_table_info('knob_events') "
                          "WHERE name = 'replica'");
  const bool has_replica = s.ok() && s.step() == sqlite::Step::kRow && s.i64(0) > 0;
  return std::string("ts_ms, route, knob, before, after, who, reason, config_version, ") +
         (has_replica ? "replica, id, observe" : "'', id, 0");
}

StoredKnobEvent knob_event_row(sqlite::Statement& s) {
  return StoredKnobEvent{s.i64(0),  s.text(1), s.text(2), s.real(3), s.real(4),
                         s.text(5), s.text(6), s.i64(7),  s.text(8), s.i64(9),
                         s.i64(10) != 0};
}

}  // namespace

Result<std::vector<StoredKnobEvent>> SqliteStoreReader::list_knob_events(int64_t limit) {
  std::lock_guard lk(read_mu_);
  std::vector<StoredKnobEvent> out;
  if (!has_table(read_, "knob_events")) return out;
  Statement s(read_, "SELECT " + knob_event_columns(read_) +
                         " FROM knob_events ORDER BY id DESC LIMIT ?1");
  if (!s.ok()) return sql_error("list knob events", read_);
  s.bind(1, limit);
  const bool read_all = s.for_each_row([&] { out.push_back(knob_event_row(s)); });
  if (!read_all) return sql_error("list knob events", read_);
  return out;
}

Result<std::vector<StoredKnobEvent>> SqliteStoreReader::list_knob_events_after(
    int64_t after_id, int64_t config_version) {
  std::lock_guard lk(read_mu_);
  std::vector<StoredKnobEvent> out;
  if (!has_table(read_, "knob_events")) return out;
  Statement s(read_, "SELECT " + knob_event_columns(read_) +
                         " FROM knob_events WHERE config_version = ?1 AND id > ?2 ORDER BY id");
  if (!s.ok()) return sql_error("list knob events", read_);
  s.bind(1, config_version).bind(2, after_id);
  const bool read_all = s.for_each_row([&] { out.push_back(knob_event_row(s)); });
  if (!read_all) return sql_error("list knob events", read_);
  return out;
}

Result<void> SqliteStoreReader::insert_knob_event(const StoredKnobEvent& e) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return history_writes_off();
  Statement s(write_,
              "INSERT INTO knob_events (ts_ms, route, knob, before, after, who, reason, "
              "config_version, replica, observe) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!s.ok()) return sql_error("insert knob event", write_);
  s.bind(1, e.ts_ms).bind(2, e.route).bind(3, e.knob).bind(4, e.before).bind(5, e.after);
  s.bind(6, e.who).bind(7, e.reason).bind(8, e.config_version).bind(9, e.replica);
  s.bind(10, e.observe);
  if (!s.run()) return sql_error("insert knob event", write_);
  return {};
}

Result<std::vector<StoredSloState>> SqliteStoreReader::list_slo_states() {
  std::lock_guard lk(read_mu_);
  std::vector<StoredSloState> out;
  if (!has_table(read_, "slo_state")) return out;
  Statement s(read_, "SELECT slo, route, knob, file_value, value, last_move_ms, observe "
                     "FROM slo_state ORDER BY slo");
  if (!s.ok()) return sql_error("list SLO state", read_);
  const bool read_all = s.for_each_row([&] {
    out.push_back(StoredSloState{s.text(0), s.text(1), s.text(2), s.real(3), s.real(4), s.i64(5),
                                 s.i64(6) != 0});
  });
  if (!read_all) return sql_error("list SLO state", read_);
  return out;
}

Result<void> SqliteStoreReader::save_slo_state(const StoredSloState& st) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return history_writes_off();
  Statement s(write_,
              "INSERT OR REPLACE INTO slo_state (slo, route, knob, file_value, value, "
              "last_move_ms, observe) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!s.ok()) return sql_error("save SLO state", write_);
  s.bind(1, st.slo).bind(2, st.route).bind(3, st.knob).bind(4, st.file_value).bind(5, st.value);
  s.bind(6, st.last_move_ms).bind(7, static_cast<int64_t>(st.observe ? 1 : 0));
  if (!s.run()) return sql_error("save SLO state", write_);
  return {};
}

}  // namespace triage::telemetry

// SqliteStoreReader: the keys created through the admin API (telemetry/key_db.h), table
// `api_keys` (schema version 5). Names in the allow-lists are stored one per line.
#include "telemetry/sqlite_reader.h"
#include "telemetry/store_rows.h"

namespace triage::telemetry {
namespace {

using sqlite::Statement;

Error key_writes_off() {
  return make_error(ErrorCode::kInternal, "key store error: opened read-only",
                    "key writes need StoreReaderOptions::review_writes");
}

Error no_key(const std::string& id) {
  return make_error(ErrorCode::kNotFound, "no key with id '" + id + "'");
}

}  // namespace

Result<std::vector<KeyPeriodSpend>> SqliteStoreReader::key_spend(int64_t day_start_ms,
                                                                 int64_t month_start_ms) {
  std::lock_guard lk(read_mu_);
  // Range scan on requests_ts_ms: one month of rows at most.
  Statement s(read_,
              "SELECT api_key_id, TOTAL(CASE WHEN ts_ms >= ?1 THEN cost_usd END), "
              "TOTAL(cost_usd) FROM requests WHERE ts_ms >= ?2 AND api_key_id IS NOT NULL "
              "AND api_key_id != '' GROUP BY api_key_id ORDER BY api_key_id");
  if (!s.ok()) return sql_error("sum spend per key", read_);
  s.bind(1, day_start_ms);
  s.bind(2, month_start_ms);
  std::vector<KeyPeriodSpend> out;
  const bool read_all = s.for_each_row([&] {
    out.push_back(KeyPeriodSpend{s.text(0), s.real(1), s.real(2)});
  });
  if (!read_all) return sql_error("sum spend per key", read_);
  return out;
}

Result<std::vector<StoredKey>> SqliteStoreReader::list_keys() {
  std::lock_guard lk(read_mu_);
  Statement s(read_,
              "SELECT id, sha256, name, routes, models, cohort, requests_per_minute, "
              "tokens_per_minute, usd_per_day, usd_per_month, disabled, created_ms, updated_ms "
              "FROM api_keys ORDER BY id");
  if (!s.ok()) return sql_error("list keys", read_);
  std::vector<StoredKey> out;
  const bool read_all = s.for_each_row([&] {
    StoredKey k;
    k.id = s.text(0);
    k.sha256_hex = s.text(1);
    k.name = s.text(2);
    k.routes = split_list(s.text(3), '\n');
    k.models = split_list(s.text(4), '\n');
    k.cohort = s.text(5);
    k.requests_per_minute = s.i64(6);
    k.tokens_per_minute = s.i64(7);
    k.usd_per_day = s.real(8);
    k.usd_per_month = s.real(9);
    k.disabled = s.i64(10) != 0;
    k.created_ms = s.i64(11);
    k.updated_ms = s.i64(12);
    out.push_back(std::move(k));
  });
  if (!read_all) return sql_error("list keys", read_);
  return out;
}

Result<void> SqliteStoreReader::insert_key(const StoredKey& k) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return key_writes_off();
  Statement s(write_,
              "INSERT INTO api_keys (id, sha256, name, routes, models, cohort, "
              "requests_per_minute, tokens_per_minute, usd_per_day, usd_per_month, disabled, "
              "created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
              "?12, ?13)");
  if (!s.ok()) return sql_error("insert key", write_);
  s.bind(1, k.id).bind(2, k.sha256_hex).bind(3, k.name).bind(4, join_list(k.routes, '\n'));
  s.bind(5, join_list(k.models, '\n')).bind(6, k.cohort).bind(7, k.requests_per_minute);
  s.bind(8, k.tokens_per_minute).bind(9, k.usd_per_day).bind(10, k.usd_per_month);
  s.bind(11, k.disabled).bind(12, k.created_ms).bind(13, k.updated_ms);
  if (!s.run()) return sql_error("insert key", write_);
  return {};
}

Result<void> SqliteStoreReader::set_key_disabled(const std::string& id, bool disabled,
                                                 int64_t now_ms) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return key_writes_off();
  Statement s(write_, "UPDATE api_keys SET disabled = ?2, updated_ms = ?3 WHERE id = ?1");
  if (!s.ok()) return sql_error("update key", write_);
  if (!s.bind(1, id).bind(2, disabled).bind(3, now_ms).run())
    return sql_error("update key", write_);
  if (sqlite3_changes(write_.get()) == 0) return no_key(id);
  return {};
}

Result<void> SqliteStoreReader::delete_key(const std::string& id) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return key_writes_off();
  Statement s(write_, "DELETE FROM api_keys WHERE id = ?1");
  if (!s.ok()) return sql_error("delete key", write_);
  if (!s.bind(1, id).run()) return sql_error("delete key", write_);
  if (sqlite3_changes(write_.get()) == 0) return no_key(id);
  return {};
}

}  // namespace triage::telemetry

// SqliteStoreReader: the window counts replicas publish to each other
// (telemetry/window_slice_db.h), table `window_slices` (schema version 12).
#include "telemetry/sqlite_reader.h"

namespace triage::telemetry {
namespace {

using sqlite::Statement;

bool has_window_slices(sqlite::Connection& db) {
  Statement s(db,
              "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'window_slices'");
  return s.ok() && s.step() == sqlite::Step::kRow && s.i64(0) > 0;
}

Error window_slice_writes_off() {
  return make_error(ErrorCode::kInternal, "window slice error: opened read-only",
                    "window slice writes need StoreReaderOptions::review_writes");
}

// "?2, ?3, ..." for `n` keys after `first`.
std::string placeholders(size_t n, int first) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += (i ? ", ?" : "?") + std::to_string(first + static_cast<int>(i));
  }
  return out;
}

}  // namespace

Result<void> SqliteStoreReader::publish_window_slices(const std::string& replica,
                                                      const std::vector<StoredWindowSlice>& rows,
                                                      int64_t now_ms) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return window_slice_writes_off();
  if (!has_window_slices(write_)) return window_slice_writes_off();
  sqlite::Transaction txn(write_);
  if (!txn.ok()) return sql_error("begin publish window slices", write_);
  Statement up(write_,
               "INSERT INTO window_slices (replica, window_key, slice_start_ms, requests, ok, "
               "compared, agreed, cost_usd, latency, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, "
               "?6, ?7, ?8, ?9, ?10) ON CONFLICT (replica, window_key, slice_start_ms) DO UPDATE "
               "SET requests = excluded.requests, ok = excluded.ok, compared = excluded.compared, "
               "agreed = excluded.agreed, cost_usd = excluded.cost_usd, latency = "
               "excluded.latency, updated_ms = excluded.updated_ms");
  if (!up.ok()) return sql_error("publish window slices", write_);
  for (const StoredWindowSlice& r : rows) {
    up.reset();
    up.bind(1, replica).bind(2, r.window_key).bind(3, r.slice_start_ms).bind(4, r.requests);
    up.bind(5, r.ok).bind(6, r.compared).bind(7, r.agreed).bind(8, r.cost_usd);
    up.bind(9, r.latency).bind(10, now_ms);
    if (!up.run()) return sql_error("publish window slices", write_);
  }
  Statement gone(write_, "DELETE FROM window_slices WHERE replica = ?1 AND updated_ms < ?2");
  if (!gone.ok()) return sql_error("publish window slices", write_);
  gone.bind(1, replica).bind(2, now_ms);
  if (!gone.run()) return sql_error("publish window slices", write_);
  if (!txn.commit()) return sql_error("commit window slices", write_);
  return {};
}

Result<std::vector<StoredWindowSlice>> SqliteStoreReader::other_window_slices(
    const std::vector<std::string>& window_keys, const std::string& exclude_replica,
    int64_t since_ms) {
  std::lock_guard lk(read_mu_);
  std::vector<StoredWindowSlice> out;
  if (window_keys.empty() || !has_window_slices(read_)) return out;
  Statement s(read_,
              "SELECT replica, window_key, slice_start_ms, requests, ok, compared, agreed, "
              "cost_usd, latency, updated_ms FROM window_slices WHERE replica != ?1 AND "
              "updated_ms >= ?2 AND window_key IN (" +
                  placeholders(window_keys.size(), 3) +
                  ") ORDER BY window_key, replica, slice_start_ms");
  if (!s.ok()) return sql_error("read window slices", read_);
  s.bind(1, exclude_replica).bind(2, since_ms);
  for (size_t i = 0; i < window_keys.size(); ++i) s.bind(3 + static_cast<int>(i), window_keys[i]);
  const bool read_all = s.for_each_row([&] {
    out.push_back(StoredWindowSlice{s.text(0), s.text(1), s.i64(2), s.i64(3), s.i64(4), s.i64(5),
                                    s.i64(6), s.real(7), s.text(8), s.i64(9)});
  });
  if (!read_all) return sql_error("read window slices", read_);
  return out;
}

Result<int64_t> SqliteStoreReader::delete_window_slices_before(int64_t before_ms) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return window_slice_writes_off();
  if (!has_window_slices(write_)) return int64_t{0};
  Statement s(write_, "DELETE FROM window_slices WHERE updated_ms < ?1");
  if (!s.ok()) return sql_error("delete window slices", write_);
  s.bind(1, before_ms);
  if (!s.run()) return sql_error("delete window slices", write_);
  return static_cast<int64_t>(sqlite3_changes(write_.get()));
}

}  // namespace triage::telemetry

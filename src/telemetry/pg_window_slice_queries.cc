// PgStoreReader: the window counts replicas publish to each other, ported from
// sqlite_window_slice_queries.cc (telemetry/window_slice_db.h), table `window_slices`
// (schema version 12).
#include <string>

#include "telemetry/pg_reader.h"

namespace triage::telemetry {
namespace {

// "$3, $4, ..." for `n` keys from `first`.
std::string placeholders(size_t n, int first) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += (i ? ", $" : "$") + std::to_string(first + static_cast<int>(i));
  }
  return out;
}

}  // namespace

Result<void> PgStoreReader::publish_window_slices(const std::string& replica,
                                                  const std::vector<StoredWindowSlice>& rows,
                                                  int64_t now_ms) {
  std::lock_guard lk(mu_);
  if (auto w = writable("window slices"); !w) return w.error();
  ensure_connected();
  pg::Transaction txn(db_);
  if (!txn.ok()) return sql_error("begin", make_error(ErrorCode::kInternal, db_.last_error()));
  for (const StoredWindowSlice& r : rows) {
    auto up = db_.exec(
        "INSERT INTO window_slices (replica, window_key, slice_start_ms, requests, ok, compared, "
        "agreed, cost_usd, latency, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (replica, window_key, slice_start_ms) DO UPDATE SET requests = "
        "excluded.requests, ok = excluded.ok, compared = excluded.compared, agreed = "
        "excluded.agreed, cost_usd = excluded.cost_usd, latency = excluded.latency, updated_ms "
        "= excluded.updated_ms",
        pg::Params()
            .add(replica)
            .add(r.window_key)
            .add(r.slice_start_ms)
            .add(r.requests)
            .add(r.ok)
            .add(r.compared)
            .add(r.agreed)
            .add(r.cost_usd)
            .add(r.latency)
            .add(now_ms));
    if (!up) return sql_error("publish window slices", up.error());
  }
  auto gone = db_.exec("DELETE FROM window_slices WHERE replica = $1 AND updated_ms < $2",
                       pg::Params().add(replica).add(now_ms));
  if (!gone) return sql_error("publish window slices", gone.error());
  if (auto c = txn.commit(); !c) return sql_error("commit window slices", c.error());
  return {};
}

Result<std::vector<StoredWindowSlice>> PgStoreReader::other_window_slices(
    const std::vector<std::string>& window_keys, const std::string& exclude_replica,
    int64_t since_ms) {
  std::lock_guard lk(mu_);
  std::vector<StoredWindowSlice> out;
  if (window_keys.empty()) return out;
  auto has_table = query("SELECT to_regclass('window_slices') IS NOT NULL");
  if (!has_table) return sql_error("read window slices", has_table.error());
  if (!has_table->boolean(0, 0)) return out;  // a store older than version 12
  pg::Params params;
  params.add(exclude_replica).add(since_ms);
  for (const std::string& k : window_keys) params.add(k);
  auto s = query(
      "SELECT replica, window_key, slice_start_ms, requests, ok, compared, agreed, cost_usd, "
      "latency, updated_ms FROM window_slices WHERE replica != $1 AND updated_ms >= $2 AND "
      "window_key IN (" +
          placeholders(window_keys.size(), 3) + ") ORDER BY window_key, replica, slice_start_ms",
      params);
  if (!s) return sql_error("read window slices", s.error());
  for (int i = 0; i < s->rows(); ++i) {
    out.push_back(StoredWindowSlice{s->text(i, 0), s->text(i, 1), s->i64(i, 2), s->i64(i, 3),
                                    s->i64(i, 4), s->i64(i, 5), s->i64(i, 6), s->real(i, 7),
                                    s->text(i, 8), s->i64(i, 9)});
  }
  return out;
}

Result<int64_t> PgStoreReader::delete_window_slices_before(int64_t before_ms) {
  std::lock_guard lk(mu_);
  if (auto w = writable("window slices"); !w) return w.error();
  auto s = write("DELETE FROM window_slices WHERE updated_ms < $1 RETURNING 1",
                 pg::Params().add(before_ms));
  if (!s) return sql_error("delete window slices", s.error());
  return static_cast<int64_t>(s->rows());
}

}  // namespace triage::telemetry

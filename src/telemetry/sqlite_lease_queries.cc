// SqliteStoreReader: leases (telemetry/lease_db.h), table `leases` (schema version 11).
#include "telemetry/sqlite_reader.h"

namespace triage::telemetry {
namespace {

using sqlite::Statement;

Error lease_writes_off() {
  return make_error(ErrorCode::kInternal, "lease error: opened read-only",
                    "leases need StoreReaderOptions::review_writes");
}

// Take when free, expired or ours; a renewal keeps since_ms. The WHERE leaves a live lease of
// another holder untouched.
constexpr const char* kUpsert =
    "INSERT INTO leases (name, holder, expires_ms, since_ms) VALUES (?1, ?2, ?3 + ?4, ?4) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
    "expires_ms = excluded.expires_ms, "
    "since_ms = CASE WHEN leases.holder = excluded.holder THEN leases.since_ms "
    "ELSE excluded.since_ms END "
    "WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4";

}  // namespace

Result<std::string> SqliteStoreReader::acquire_or_renew(const std::string& name,
                                                        const std::string& holder, int64_t ttl_ms,
                                                        int64_t now_ms) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return lease_writes_off();
  // One write transaction: the upsert and the read of its outcome see the same row.
  if (!write_.exec("BEGIN IMMEDIATE").ok()) return sql_error("acquire lease", write_);
  auto fail = [&](const char* what) {
    Error e = sql_error(what, write_);
    (void)write_.exec("ROLLBACK");
    return e;
  };
  {
    Statement up(write_, kUpsert);
    if (!up.ok()) return fail("acquire lease");
    up.bind(1, name).bind(2, holder).bind(3, ttl_ms).bind(4, now_ms);
    if (!up.run()) return fail("acquire lease");
  }
  std::string after;
  {
    Statement s(write_, "SELECT holder FROM leases WHERE name = ?1");
    if (!s.ok()) return fail("read lease");
    s.bind(1, name);
    if (s.step() != sqlite::Step::kRow) return fail("read lease");
    after = s.text(0);
  }
  if (!write_.exec("COMMIT").ok()) return fail("acquire lease");
  return after;
}

Result<void> SqliteStoreReader::release(const std::string& name, const std::string& holder) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return lease_writes_off();
  Statement s(write_, "DELETE FROM leases WHERE name = ?1 AND holder = ?2");
  if (!s.ok()) return sql_error("release lease", write_);
  s.bind(1, name).bind(2, holder);
  if (!s.run()) return sql_error("release lease", write_);
  return {};
}

}  // namespace triage::telemetry

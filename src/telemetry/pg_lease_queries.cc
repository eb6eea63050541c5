// PgStoreReader: leases (telemetry/lease_db.h), table `leases` (schema version 11): the
// statements of sqlite_lease_queries.cc, in one conditional upsert.
#include "telemetry/pg_reader.h"

namespace triage::telemetry {

Result<std::string> PgStoreReader::acquire_or_renew(const std::string& name,
                                                    const std::string& holder, int64_t ttl_ms,
                                                    int64_t now_ms) {
  std::lock_guard lk(mu_);
  if (auto w = writable("lease"); !w) return w.error();
  // The row lock of ON CONFLICT serialises racing replicas; RETURNING names the new holder.
  // No row back: another holder's live lease, read next.
  auto up = write(
      "INSERT INTO leases (name, holder, expires_ms, since_ms) VALUES ($1, $2, $3::BIGINT + $4::BIGINT, $4::BIGINT) "
      "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
      "expires_ms = excluded.expires_ms, "
      "since_ms = CASE WHEN leases.holder = excluded.holder THEN leases.since_ms "
      "ELSE excluded.since_ms END "
      "WHERE leases.holder = excluded.holder OR leases.expires_ms <= $4::BIGINT "
      "RETURNING holder",
      pg::Params().add(name).add(holder).add(ttl_ms).add(now_ms));
  if (!up) return sql_error("acquire lease", up.error());
  if (up->rows() > 0) return up->text(0, 0);
  auto held = query("SELECT holder FROM leases WHERE name = $1", pg::Params().add(name));
  if (!held) return sql_error("read lease", held.error());
  if (held->rows() == 0) {  // released between the two statements: not ours either
    return std::string();
  }
  return held->text(0, 0);
}

Result<void> PgStoreReader::release(const std::string& name, const std::string& holder) {
  std::lock_guard lk(mu_);
  if (auto w = writable("lease"); !w) return w.error();
  auto s = write("DELETE FROM leases WHERE name = $1 AND holder = $2",
                 pg::Params().add(name).add(holder));
  if (!s) return sql_error("release lease", s.error());
  return {};
}

}  // namespace triage::telemetry

#include "telemetry/pg_reader.h"

#include "telemetry/pg_schema.h"

namespace triage::telemetry {

Result<std::unique_ptr<PgStoreReader>> PgStoreReader::open(const std::string& conninfo,
                                                           const std::string& password,
                                                           const StoreReaderOptions& options) {
  const std::string where = pg::describe_conninfo(conninfo);
  auto fail = [&](const std::string& what) {
    return make_error(ErrorCode::kInvalidRequest, where + ": " + what);
  };
  auto c = pg::Connection::open(conninfo, password);
  if (!c) return make_error(ErrorCode::kInvalidRequest, c.error().message);
  std::unique_ptr<PgStoreReader> r(new PgStoreReader(where, options));
  r->db_ = std::move(c.value());
  const Result<int> version = pg_schema_version(r->db_);
  if (!version) return fail("cannot read the schema version: " + version.error().message);
  if (*version == 0) {
    return fail(
        "not a request store (no schema yet: start the gateway with store.type: postgres on "
        "it once)");
  }
  if (*version > kPgSchemaVersion) {
    return fail("unsupported schema_version " + std::to_string(*version) + " (this build reads " +
                std::to_string(kPgSchemaVersion) + ")");
  }
  if (!options.review_writes) {
    // Read-only like SQLite's reader: a bug cannot write through it.
    if (auto s = r->db_.exec_script("SET default_transaction_read_only = on"); !s) {
      return fail("cannot open the request store: " + s.error().message);
    }
  }
  return r;
}

Error PgStoreReader::sql_error(const char* what, const Error& e) const {
  return make_error(ErrorCode::kInternal, std::string("request store error: ") + what,
                    where_ + ": " + what + ": " + e.message);
}

Error PgStoreReader::scan_error(const char* what, const Error& e) const {
  return make_error(ErrorCode::kInvalidRequest, where_ + ": " + what + ": " + e.message);
}

bool PgStoreReader::ensure_connected() {
  if (db_.healthy()) return true;
  if (!db_.reset()) return false;
  if (!options_.review_writes) {
    (void)db_.exec_script("SET default_transaction_read_only = on");
  }
  return true;
}

Result<pg::ResultSet> PgStoreReader::query(std::string_view sql, const pg::Params& params) {
  ensure_connected();
  auto r = db_.exec(sql, params);
  if (!r && !db_.healthy() && ensure_connected()) r = db_.exec(sql, params);
  return r;
}

Result<pg::ResultSet> PgStoreReader::write(std::string_view sql, const pg::Params& params) {
  ensure_connected();
  return db_.exec(sql, params);
}

Result<void> PgStoreReader::writable(const char* what) const {
  if (options_.review_writes) return {};
  return make_error(ErrorCode::kInternal, std::string(what) + " error: opened read-only",
                    std::string(what) + " writes need StoreReaderOptions::review_writes");
}

}  // namespace triage::telemetry

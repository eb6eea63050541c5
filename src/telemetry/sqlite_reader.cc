#include "telemetry/sqlite_reader.h"

namespace triage::telemetry {

Result<std::unique_ptr<SqliteStoreReader>> SqliteStoreReader::open(
    const std::string& path, const StoreReaderOptions& options) {
  auto fail = [&](const std::string& what) {
    return make_error(ErrorCode::kInvalidRequest, path + ": " + what);
  };
  std::unique_ptr<SqliteStoreReader> r(new SqliteStoreReader(path, options));
  auto read = sqlite::Connection::open(path, sqlite::OpenMode::kReadOnly);
  if (!read) return fail("cannot open the request store: " + read.error().message);
  r->read_ = std::move(read.value());
  if (options.review_writes) {
    // The review API pages through the queue all day: a 16 MiB page cache keeps it warm.
    if (!r->read_.exec("PRAGMA cache_size=-16384").ok()) {
      return fail("cannot open the request store: " + r->read_.last_error());
    }
    // Versions after 2 changed only the rollups and indexes; the review tables are those of v2.
    const std::optional<int> version = r->read_.schema_version();
    if (!version || *version < 2) {
      return fail(
          "not a request store with schema_version 2 or later (open it with the request "
          "store first)");
    }
    auto write = sqlite::Connection::open(path, sqlite::OpenMode::kReadWrite);
    if (!write) return fail("cannot open the request store: " + write.error().message);
    r->write_ = std::move(write.value());
    // Checkpoints are the store writer's (paced, every 8192 pages: sqlite_store.cc). With
    // SQLite's default of 1000 pages, a label or a lease renewal committed here would copy the
    // whole WAL back on its own thread, unpaced, beside the I/O threads.
    if (!r->write_.exec("PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0").ok()) {
      return fail("cannot open the request store: " + r->write_.last_error());
    }
  }
  return r;
}

Error SqliteStoreReader::sql_error(const char* what, sqlite::Connection& db) const {
  return make_error(ErrorCode::kInternal, std::string("request store error: ") + what,
                    path_ + ": " + what + ": " + db.last_error());
}

}  // namespace triage::telemetry

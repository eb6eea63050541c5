#include "telemetry/store_reader.h"

#include <charconv>

#include "telemetry/pg_db.h"
#include "telemetry/pg_reader.h"
#include "telemetry/request_store.h"
#include "telemetry/sqlite_reader.h"

namespace triage::telemetry {

Result<std::unique_ptr<StoreReader>> open_store_reader(const std::string& location,
                                                       const StoreReaderOptions& options) {
  if (is_postgres_location(location)) {
    // The password, if any, from libpq's own PGPASSWORD or ~/.pgpass (never on a command line).
    auto r = PgStoreReader::open(location, {}, options);
    if (!r) return std::move(r).error();
    return std::unique_ptr<StoreReader>(std::move(r.value()));
  }
  auto r = SqliteStoreReader::open(location, options);
  if (!r) return std::move(r).error();
  return std::unique_ptr<StoreReader>(std::move(r.value()));
}

Result<std::unique_ptr<StoreReader>> open_store_reader(const config::Config& cfg,
                                                       const StoreReaderOptions& options,
                                                       const std::string& what) {
  if (cfg.store.type == "postgres") {
    auto password = store_password(cfg.store);
    if (!password)
      return make_error(ErrorCode::kUnavailable, what + ": " + password.error().message);
    auto r = PgStoreReader::open(cfg.store.url, *password, options);
    if (!r) return make_error(ErrorCode::kUnavailable, what + ": " + r.error().message);
    return std::unique_ptr<StoreReader>(std::move(r.value()));
  }
  if (cfg.store.type != "sqlite") {
    return make_error(ErrorCode::kUnavailable,
                      what + " needs the request store (store.type: sqlite or postgres)");
  }
  if (cfg.store.path == ":memory:" || cfg.store.path.empty()) {
    return make_error(ErrorCode::kUnavailable,
                      what + " needs a file-backed store (store.path is ':memory:')");
  }
  return open_store_reader(cfg.store.path, options);
}

std::string describe_store_location(const std::string& location) {
  return is_postgres_location(location) ? pg::describe_conninfo(location) : location;
}

std::string review_cursor(const ReviewItem& last) {
  return std::to_string(last.ts_ms) + "." + last.request_id;
}

bool parse_review_cursor(const std::string& c, int64_t& ts, std::string& id) {
  const size_t dot = c.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= c.size()) return false;
  auto [p, ec] = std::from_chars(c.data(), c.data() + dot, ts);
  if (ec != std::errc() || p != c.data() + dot) return false;
  id = c.substr(dot + 1);
  return true;
}

Result<void> validate_review_query(const ReviewQuery& q) {
  if (q.status != "open" && q.status != "labeled" && q.status != "all") {
    return make_error(ErrorCode::kInvalidRequest,
                      "status must be open, labeled or all, got '" + q.status + "'", {}, "status");
  }
  int64_t ts = 0;
  std::string id;
  if (!q.cursor.empty() && !parse_review_cursor(q.cursor, ts, id)) {
    return make_error(ErrorCode::kInvalidRequest,
                      "malformed cursor; pass next_cursor from the previous page unchanged", {},
                      "cursor");
  }
  return {};
}

}  // namespace triage::telemetry

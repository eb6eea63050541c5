#include "telemetry/sqlite_db.h"

namespace triage::telemetry::sqlite {

Result<Connection> Connection::open(const std::string& path, OpenMode mode, int busy_timeout_ms,
                                    const char* vfs) {
  int flags = SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case OpenMode::kReadOnly:
      flags |= SQLITE_OPEN_READONLY;
      break;
    case OpenMode::kReadWrite:
      flags |= SQLITE_OPEN_READWRITE;
      break;
    case OpenMode::kCreate:
      flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
      break;
  }
  Connection c;
  c.path_ = path;
  if (sqlite3_open_v2(path.c_str(), &c.db_, flags, vfs) != SQLITE_OK) {
    std::string msg = c.db_ ? sqlite3_errmsg(c.db_) : "out of memory";
    return make_error(ErrorCode::kInternal, std::move(msg));
  }
  sqlite3_busy_timeout(c.db_, busy_timeout_ms);
  return c;
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    close();
    db_ = o.db_;
    path_ = std::move(o.path_);
    o.db_ = nullptr;
  }
  return *this;
}

void Connection::close() {
  // close_v2: statements still alive keep the connection until they are finalized, so the
  // destruction order of a connection and its statements does not matter.
  sqlite3_close_v2(db_);
  db_ = nullptr;
}

Result<void> Connection::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return {};
  std::string msg = err ? err : last_error();
  sqlite3_free(err);
  return make_error(ErrorCode::kInternal, std::move(msg));
}

bool Connection::has_table(std::string_view name) {
  Statement s(*this, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  return s.ok() && s.bind(1, name).step() == Step::kRow;
}

std::optional<int> Connection::schema_version() {
  Statement s(*this, "SELECT value FROM meta WHERE key = 'schema_version'");
  if (!s.ok() || s.step() != Step::kRow) return std::nullopt;
  return static_cast<int>(s.i64(0));
}

Statement::Statement(Connection& db, std::string_view sql, bool persistent) {
  if (sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                         persistent ? SQLITE_PREPARE_PERSISTENT : 0, &s_, nullptr) != SQLITE_OK) {
    sqlite3_finalize(s_);
    s_ = nullptr;
  }
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(s_);
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

Transaction::Transaction(Connection& db) : db_(db) { ok_ = db_.exec("BEGIN IMMEDIATE").ok(); }

Transaction::~Transaction() {
  if (ok_ && !done_) (void)db_.exec("ROLLBACK");
}

bool Transaction::commit() {
  done_ = true;
  if (db_.exec("COMMIT").ok()) return true;
  (void)db_.exec("ROLLBACK");
  return false;
}

}  // namespace triage::telemetry::sqlite

#pragma once
// The project's one RAII wrapper of the SQLite C API: connection, prepared statement,
// transaction. Used by the request store's SQLite backend (its writer telemetry/sqlite_store.h,
// its schema sqlite_schema.h, its reader sqlite_reader.h) and by `triage analyze`'s scratch
// database (insights/analyze_input.h, a compute engine, not the store). The consumers of the
// store (dashboard, review API, `triage report/analyze/roi/export`) never see it: they talk to
// the typed queries of telemetry/store_reader.h.
//
// Threading: a Connection and its Statements are used by one thread at a time; the owner
// serialises access (each owner documents the mutex or thread that does).
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/result.h"

namespace triage::telemetry::sqlite {

enum class OpenMode {
  kReadOnly,   // readers: never block the store's writer (WAL)
  kReadWrite,  // an existing file (the review API's durable writes)
  kCreate,     // read-write, created when missing (the store's writer)
};

// One database connection, closed on destruction. Move-only.
class Connection {
 public:
  Connection() = default;
  // Opens `path` with a busy timeout of `busy_timeout_ms` (a writer's batch or a checkpoint may
  // hold the lock for a moment), through the VFS named `vfs` (null: SQLite's default). Error:
  // the file cannot be opened; the message is SQLite's.
  static Result<Connection> open(const std::string& path, OpenMode mode,
                                 int busy_timeout_ms = 5000, const char* vfs = nullptr);
  ~Connection() { close(); }
  Connection(Connection&& o) noexcept : db_(o.db_), path_(std::move(o.path_)) { o.db_ = nullptr; }
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close();
  bool is_open() const { return db_ != nullptr; }
  sqlite3* get() const { return db_; }
  const std::string& path() const { return path_; }

  // Runs one or more statements without results (pragmas, DDL, BEGIN/COMMIT). The error
  // message is SQLite's.
  Result<void> exec(const std::string& sql);
  // SQLite's message for the last failed call on this connection.
  std::string last_error() const { return db_ ? sqlite3_errmsg(db_) : "no database connection"; }
  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  bool has_table(std::string_view name);
  // meta.schema_version of a request store; nullopt when the file has none (not a store).
  std::optional<int> schema_version();

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

enum class Step { kRow, kDone, kError };

// One prepared statement, finalized on destruction. Parameters are 1-based, columns 0-based.
// Text is bound as a copy (SQLITE_TRANSIENT) unless the _static variant is used.
class Statement {
 public:
  Statement() = default;
  // Prepares `sql` on `db`; check ok() (the error is db.last_error()). `persistent`: a statement
  // kept for the connection's lifetime and reused (SQLITE_PREPARE_PERSISTENT).
  Statement(Connection& db, std::string_view sql, bool persistent = false);
  ~Statement() { sqlite3_finalize(s_); }
  Statement(Statement&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return s_ != nullptr; }

  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Statement& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind_null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  // NULL for an empty string (optional text columns are NULL, so SQL counts them naturally).
  Statement& bind_or_null(int i, std::string_view v) {
    return v.empty() ? bind_null(i) : bind(i, v);
  }
  // No copy: the bytes must stay alive until the statement is stepped and reset (the writer's
  // hot path).
  Statement& bind_static(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& bind_static_or_null(int i, std::string_view v) {
    return v.empty() ? bind_null(i) : bind_static(i, v);
  }

  Step step() {
    const int rc = sqlite3_step(s_);
    return rc == SQLITE_ROW ? Step::kRow : rc == SQLITE_DONE ? Step::kDone : Step::kError;
  }
  // Steps a statement that returns no rows; true when it ran to completion.
  bool run() { return step() == Step::kDone; }
  // The one row loop: calls on_row() for each result row, with this statement on that row (read
  // its columns inside). on_row returns void, or bool: false stops the loop early (not an
  // error). Returns false only on a SQLite error (the message is the connection's
  // last_error()), which the caller reports in its own words.
  template <class F>
  bool for_each_row(F&& on_row) {
    Step rc;
    while ((rc = step()) == Step::kRow) {
      if constexpr (std::is_same_v<std::invoke_result_t<F&>, bool>) {
        if (!on_row()) return true;
      } else {
        on_row();
      }
    }
    return rc == Step::kDone;
  }
  // Ready to run again with new bindings (bindings are kept until rebound).
  void reset() { sqlite3_reset(s_); }

  std::string text(int col) const {
    const unsigned char* t = sqlite3_column_text(s_, col);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  std::optional<std::string> opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }
  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  double real(int col) const { return sqlite3_column_double(s_, col); }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Connection& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  bool ok() const { return ok_; }  // BEGIN succeeded
  bool commit();                   // false (and rolled back) when COMMIT failed

 private:
  Connection& db_;
  bool ok_ = false;
  bool done_ = false;
};

}  // namespace triage::telemetry::sqlite

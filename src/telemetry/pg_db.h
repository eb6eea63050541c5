#pragma once
// The project's one RAII wrapper of libpq (PostgreSQL's C client), the counterpart of
// telemetry/sqlite_db.h for the PostgreSQL store (pg_store.h, pg_schema.h, pg_reader.h).
// Values only ever travel as parameters (PQexecParams, text format): no SQL is built from
// values. The consumers of the store never see this header.
//
// Threading: a Connection and its Results are used by one thread at a time; the owner
// serialises access (each owner documents the mutex or thread that does). Every call blocks
// on the network: never call it on an I/O thread.
#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace triage::telemetry::pg {

// The connection string for people: "postgresql://user@host:port/dbname", never the password
// (whether it was in the URI, a key=value pair, or comes from the environment). A string
// libpq cannot parse is described as "(unparseable connection string)", never echoed: it may
// hold a password.
std::string describe_conninfo(const std::string& conninfo);

// Query parameters ($1, $2, ...) in text format. Doubles are written in their shortest exact
// form, so they round-trip.
class Params {
 public:
  Params& add(int64_t v);
  Params& add(int v) { return add(static_cast<int64_t>(v)); }
  Params& add(bool v) { return add(static_cast<int64_t>(v ? 1 : 0)); }
  Params& add(double v);
  Params& add(std::string_view v);
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add_null();
  // NULL for an empty string (optional text columns are NULL, as in SQLite).
  Params& add_or_null(std::string_view v) { return v.empty() ? add_null() : add(v); }
  size_t size() const { return values_.size(); }
  void clear();
  // For PQexecParams: pointers into this object, valid until it changes.
  std::vector<const char*> pointers() const;

 private:
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
};

// A query's result (PQclear on destruction). Move-only. Rows and columns are 0-based.
class ResultSet {
 public:
  ResultSet() = default;
  explicit ResultSet(PGresult* r) : r_(r) {}
  ~ResultSet() { PQclear(r_); }
  ResultSet(ResultSet&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  ResultSet& operator=(ResultSet&& o) noexcept;
  ResultSet(const ResultSet&) = delete;
  ResultSet& operator=(const ResultSet&) = delete;

  int rows() const { return r_ ? PQntuples(r_) : 0; }
  // Rows an INSERT/UPDATE/DELETE touched.
  int64_t affected() const;
  // The command tag ("INSERT 0 3", "COMMIT"; "ROLLBACK" for a COMMIT of a failed transaction).
  std::string command() const { return r_ ? PQcmdStatus(r_) : ""; }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string text(int row, int col) const;  // "" for NULL
  std::optional<std::string> opt_text(int row, int col) const;
  int64_t i64(int row, int col) const;   // 0 for NULL; numeric text is truncated toward zero
  double real(int row, int col) const;   // 0 for NULL
  bool boolean(int row, int col) const;  // 't' / true / non-zero

 private:
  PGresult* r_ = nullptr;
};

// One row of a result (row 0 of each streamed one, Connection::for_each_row), read by column
// as a sqlite::Statement on a row is, so that row mappings serve both (store_rows.h).
class Row {
 public:
  explicit Row(const ResultSet& rs, int row = 0) : rs_(rs), row_(row) {}
  bool is_null(int col) const { return rs_.is_null(row_, col); }
  std::string text(int col) const { return rs_.text(row_, col); }
  std::optional<std::string> opt_text(int col) const { return rs_.opt_text(row_, col); }
  int64_t i64(int col) const { return rs_.i64(row_, col); }
  double real(int col) const { return rs_.real(row_, col); }
  bool boolean(int col) const { return rs_.boolean(row_, col); }

 private:
  const ResultSet& rs_;
  int row_;
};

// One connection (PQfinish on destruction). Move-only.
class Connection {
 public:
  Connection() = default;
  // Connects to `conninfo` (a libpq key=value string or a postgres:// URI); `password`, when
  // not empty, overrides any in the string (store.password_env). Error (kUnavailable): the
  // message is libpq's (it never contains the password) prefixed by describe_conninfo().
  static Result<Connection> open(const std::string& conninfo, const std::string& password = {},
                                 int connect_timeout_s = 5);
  ~Connection() { close(); }
  Connection(Connection&& o) noexcept : c_(o.c_) { o.c_ = nullptr; }
  Connection& operator=(Connection&& o) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close();
  bool is_open() const { return c_ != nullptr; }
  // The connection is up as far as libpq knows (a broken socket shows after a failed call).
  bool healthy() const { return c_ != nullptr && PQstatus(c_) == CONNECTION_OK; }
  // Reconnects with the same parameters; true when the new connection is up.
  bool reset();

  // One statement with parameters. Error (kInternal): `message` is libpq's text, `internal`
  // the SQLSTATE ("23505"; empty when the connection itself failed).
  Result<ResultSet> exec(std::string_view sql, const Params& params = {});
  // Statements without parameters nor results (DDL, BEGIN, COMMIT); may hold several.
  Result<void> exec_script(std::string_view sql);
  // Streams the rows of a query one at a time (single-row mode): a scan of millions of rows
  // never holds them all. on_row returns false to stop early (not an error; the rest of the
  // result is discarded). Error: libpq's message.
  Result<void> for_each_row(std::string_view sql, const Params& params,
                            const std::function<bool(const Row&)>& on_row);

  std::string last_error() const;
  PGconn* get() const { return c_; }

 private:
  explicit Connection(PGconn* c) : c_(c) {}
  Error error_of(PGresult* r, std::string_view what) const;
  PGconn* c_ = nullptr;
};

// An error of exec() that is a unique-key violation (SQLSTATE 23505).
bool is_unique_violation(const Error& e);

// BEGIN on construction; ROLLBACK on destruction unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Connection& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  bool ok() const { return ok_; }  // BEGIN succeeded
  Result<void> commit();

 private:
  Connection& db_;
  bool ok_ = false;
  bool done_ = false;
};

}  // namespace triage::telemetry::pg

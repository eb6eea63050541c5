#include "telemetry/pg_db.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace triage::telemetry::pg {
namespace {

// libpq's messages end with a newline (and sometimes carry a second line of detail).
std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

}  // namespace

std::string describe_conninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    PQfreemem(err);
    return "(unparseable connection string)";
  }
  std::string user, host, port, dbname;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    if (std::strcmp(o->keyword, "user") == 0) user = o->val;
    if (std::strcmp(o->keyword, "host") == 0) host = o->val;
    if (std::strcmp(o->keyword, "port") == 0) port = o->val;
    if (std::strcmp(o->keyword, "dbname") == 0) dbname = o->val;
  }
  PQconninfoFree(opts);
  std::string out = "postgresql://";
  if (!user.empty()) out += user + "@";
  out += host.empty() ? "localhost" : host;
  if (!port.empty()) out += ":" + port;
  if (!dbname.empty()) out += "/" + dbname;
  return out;
}

Params& Params::add(int64_t v) {
  values_.push_back(std::to_string(v));
  nulls_.push_back(false);
  return *this;
}

Params& Params::add(double v) {
  values_.push_back(fmt::format("{}", v));  // shortest form that reads back as the same double
  nulls_.push_back(false);
  return *this;
}

Params& Params::add(std::string_view v) {
  values_.emplace_back(v);
  nulls_.push_back(false);
  return *this;
}

Params& Params::add_null() {
  values_.emplace_back();
  nulls_.push_back(true);
  return *this;
}

void Params::clear() {
  values_.clear();
  nulls_.clear();
}

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> out(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) out[i] = nulls_[i] ? nullptr : values_[i].c_str();
  return out;
}

ResultSet& ResultSet::operator=(ResultSet&& o) noexcept {
  if (this != &o) {
    PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int64_t ResultSet::affected() const {
  const char* n = r_ ? PQcmdTuples(r_) : "";
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

std::string ResultSet::text(int row, int col) const {
  if (is_null(row, col)) return {};
  return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}

std::optional<std::string> ResultSet::opt_text(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return text(row, col);
}

int64_t ResultSet::i64(int row, int col) const {
  if (is_null(row, col)) return 0;
  const char* v = PQgetvalue(r_, row, col);
  const char* end = v + PQgetlength(r_, row, col);
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v, end, out);
  if (ec == std::errc() && p == end) return out;
  return static_cast<int64_t>(std::strtod(v, nullptr));  // a NUMERIC or float sum
}

double ResultSet::real(int row, int col) const {
  if (is_null(row, col)) return 0.0;
  return std::strtod(PQgetvalue(r_, row, col), nullptr);
}

bool ResultSet::boolean(int row, int col) const {
  if (is_null(row, col)) return false;
  const char c = PQgetvalue(r_, row, col)[0];
  return c == 't' || c == 'T' || (c >= '1' && c <= '9');
}

Result<Connection> Connection::open(const std::string& conninfo, const std::string& password,
                                    int connect_timeout_s) {
  // expand_dbname: the first "dbname" is the whole connection string; later keys override it.
  const std::string timeout = std::to_string(connect_timeout_s);
  std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name"};
  std::vector<const char*> values = {conninfo.c_str(), timeout.c_str(), "triage"};
  if (!password.empty()) {
    keys.push_back("password");
    values.push_back(password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* c = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (!c) {
    return make_error(ErrorCode::kUnavailable,
                      describe_conninfo(conninfo) + ": cannot connect: out of memory");
  }
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg =
        describe_conninfo(conninfo) + ": cannot connect: " + trimmed(PQerrorMessage(c));
    PQfinish(c);
    return make_error(ErrorCode::kUnavailable, std::move(msg));
  }
  // Quiet: NOTICEs ("relation already exists, skipping") are not worth a log line.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  return Connection(c);
}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    close();
    c_ = o.c_;
    o.c_ = nullptr;
  }
  return *this;
}

void Connection::close() {
  if (c_) PQfinish(c_);
  c_ = nullptr;
}

bool Connection::reset() {
  if (!c_) return false;
  PQreset(c_);
  return PQstatus(c_) == CONNECTION_OK;
}

std::string Connection::last_error() const {
  return c_ ? trimmed(PQerrorMessage(c_)) : "no database connection";
}

Error Connection::error_of(PGresult* r, std::string_view what) const {
  std::string msg = r ? trimmed(PQresultErrorMessage(r)) : std::string();
  if (msg.empty()) msg = last_error();
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return make_error(ErrorCode::kInternal, std::string(what) + msg, state ? state : "");
}

Result<ResultSet> Connection::exec(std::string_view sql, const Params& params) {
  if (!c_) return make_error(ErrorCode::kInternal, "no database connection");
  const std::string q(sql);
  const std::vector<const char*> values = params.pointers();
  PGresult* r = PQexecParams(c_, q.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                             nullptr, nullptr, /*resultFormat=text*/ 0);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    Error e = error_of(r, "");
    PQclear(r);
    return e;
  }
  return ResultSet(r);
}

Result<void> Connection::exec_script(std::string_view sql) {
  if (!c_) return make_error(ErrorCode::kInternal, "no database connection");
  const std::string q(sql);
  PGresult* r = PQexec(c_, q.c_str());
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    Error e = error_of(r, "");
    PQclear(r);
    return e;
  }
  PQclear(r);
  return {};
}

Result<void> Connection::for_each_row(std::string_view sql, const Params& params,
                                      const std::function<bool(const Row&)>& on_row) {
  if (!c_) return make_error(ErrorCode::kInternal, "no database connection");
  const std::string q(sql);
  const std::vector<const char*> values = params.pointers();
  if (!PQsendQueryParams(c_, q.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                         nullptr, nullptr, 0)) {
    return make_error(ErrorCode::kInternal, last_error());
  }
  PQsetSingleRowMode(c_);
  std::optional<Error> failed;
  bool stopped = false;
  // Every result must be read before the connection can run another query.
  while (PGresult* raw = PQgetResult(c_)) {
    ResultSet r(raw);
    const ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_SINGLE_TUPLE) {
      if (!stopped && !on_row(Row(r))) {
        stopped = true;
        // Ask the server to stop sending; what is in flight is read and discarded.
        if (PGcancel* cancel = PQgetCancel(c_)) {
          char buf[256];
          PQcancel(cancel, buf, sizeof buf);
          PQfreeCancel(cancel);
        }
      }
    } else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK && !stopped && !failed) {
      failed = error_of(raw, "");
    }
  }
  if (failed) return *failed;
  return {};
}

bool is_unique_violation(const Error& e) { return e.internal == "23505"; }

Transaction::Transaction(Connection& db) : db_(db) { ok_ = db_.exec_script("BEGIN").ok(); }

Transaction::~Transaction() {
  if (ok_ && !done_) (void)db_.exec_script("ROLLBACK");
}

Result<void> Transaction::commit() {
  done_ = true;
  // A COMMIT of a transaction that already failed succeeds as "ROLLBACK".
  auto r = db_.exec("COMMIT");
  if (!r) {
    (void)db_.exec_script("ROLLBACK");
    return r.error();
  }
  if (r->command() != "COMMIT") {
    return make_error(ErrorCode::kInternal, "transaction rolled back by the server");
  }
  return {};
}

}  // namespace triage::telemetry::pg

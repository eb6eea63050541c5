#include "telemetry/review_db.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <utility>

#include "core/review_flag.h"

namespace triage::telemetry {
namespace {

// A prepared statement, finalized on scope exit. Text is bound SQLITE_TRANSIENT (copied), so
// callers may pass temporaries.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { ok_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) == SQLITE_OK; }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return ok_; }
  Stmt& text(int i, const std::string& v, bool null_if_empty = true) {
    if (v.empty() && null_if_empty) {
      sqlite3_bind_null(s_, i);
    } else {
      sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    return *this;
  }
  Stmt& i64(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& real(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  std::string col_text(int i) const {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(s_, i)))
             : std::string();
  }
  int64_t col_i64(int i) const { return sqlite3_column_int64(s_, i); }
  double col_real(int i) const { return sqlite3_column_double(s_, i); }
  bool col_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_ = nullptr;
  bool ok_ = false;
};

// Commits on commit(); rolls back otherwise.
class Txn {
 public:
  explicit Txn(sqlite3* db) : db_(db) {
    ok_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~Txn() {
    if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool ok() const { return ok_; }
  bool commit() {
    done_ = true;
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) return true;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
};

sqlite3* open_db(const std::string& path, int flags, const char* pragmas) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("review store " + path + ": cannot open database: " + msg);
  }
  sqlite3_busy_timeout(db, 5000);  // the request store's writer holds the lock per batch
  char* err = nullptr;
  if (sqlite3_exec(db, pragmas, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db);
    throw std::runtime_error("review store " + path + ": " + msg);
  }
  Stmt v(db, "SELECT value FROM meta WHERE key = 'schema_version'");
  // Versions 3 and 4 changed only the rollup and indexes; the review tables are those of v2.
  const std::string version = v.ok() && v.step() == SQLITE_ROW ? v.col_text(0) : "";
  if (version != "2" && version != "3" && version != "4") {
    sqlite3_close(db);
    throw std::runtime_error("review store " + path +
                             ": not a request store with schema_version 2 to 4 (open it with the "
                             "request store first)");
  }
  return db;
}

std::vector<std::string> split_reasons(const std::string& joined) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < joined.size()) {
    size_t comma = joined.find(',', start);
    if (comma == std::string::npos) comma = joined.size();
    if (comma > start) out.push_back(joined.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// Cursor "<ts_ms>.<request_id>": the last item of the previous page (keyset pagination).
bool parse_cursor(const std::string& c, int64_t& ts, std::string& id) {
  const size_t dot = c.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= c.size()) return false;
  auto [p, ec] = std::from_chars(c.data(), c.data() + dot, ts);
  if (ec != std::errc() || p != c.data() + dot) return false;
  id = c.substr(dot + 1);
  return true;
}

// Columns shared by list() and detail(): queue entry (maybe NULL) + request row.
constexpr const char* kItemColumns =
    "r.request_id, r.ts_ms, q.status, "
    "(SELECT group_concat(reason, ',') FROM review_reasons rr WHERE rr.request_id = r.request_id), "
    "r.route, r.model, r.tier, r.category, r.cost_usd, r.status, r.label, r.confidence";

void read_item(const Stmt& s, ReviewItem& it) {
  it.request_id = s.col_text(0);
  it.ts_ms = s.col_i64(1);
  it.status = s.col_text(2);
  it.reasons = split_reasons(s.col_text(3));
  it.route = s.col_text(4);
  it.model = s.col_text(5);
  it.tier = s.col_text(6);
  it.category = s.col_text(7);
  it.cost_usd = s.col_real(8);
  it.http_status = static_cast<int>(s.col_i64(9));
  it.label = s.col_text(10);
  if (!s.col_null(11)) it.confidence = s.col_real(11);
}

}  // namespace

ReviewDb::ReviewDb(const std::string& path, bool negative_feedback_enqueues)
    : path_(path), negative_feedback_enqueues_(negative_feedback_enqueues) {
  write_db_ = open_db(path, SQLITE_OPEN_READWRITE, "PRAGMA synchronous=FULL;");
  try {
    read_db_ = open_db(path, SQLITE_OPEN_READONLY, "PRAGMA cache_size=-16384;");
  } catch (...) {
    sqlite3_close(write_db_);
    throw;
  }
}

ReviewDb::~ReviewDb() {
  sqlite3_close(write_db_);
  sqlite3_close(read_db_);
}

Error ReviewDb::sql_error(const char* what, sqlite3* db) const {
  return make_error(ErrorCode::kInternal, std::string("review store error: ") + what,
                    path_ + ": " + what + ": " + sqlite3_errmsg(db));
}

Result<int64_t> ReviewDb::request_ts(const std::string& request_id) {
  Stmt s(write_db_, "SELECT ts_ms FROM requests WHERE request_id = ?1");
  if (!s.ok()) return sql_error("lookup", write_db_);
  s.text(1, request_id, false);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return s.col_i64(0);
  if (rc == SQLITE_DONE) {
    return make_error(ErrorCode::kNotFound,
                      "no request with id '" + request_id +
                          "' in the request store (use the id from the response's "
                          "x-request-id header or the chat completion id without 'chatcmpl-')",
                      {}, "request_id");
  }
  return sql_error("lookup", write_db_);
}

Result<int64_t> ReviewDb::add_feedback(const FeedbackInput& in, int64_t now_ms, bool* enqueued) {
  std::lock_guard lk(write_mu_);
  if (enqueued) *enqueued = false;
  Txn txn(write_db_);
  if (!txn.ok()) return sql_error("begin", write_db_);
  Result<int64_t> ts = request_ts(in.request_id);
  if (!ts) return ts.error();
  Stmt ins(write_db_,
           "INSERT INTO feedback (request_id, ts_ms, score, thumbs, corrected_answer, comment) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  ins.text(1, in.request_id, false).i64(2, now_ms).real(3, in.score).text(4, in.thumbs);
  ins.text(5, in.corrected_answer).text(6, in.comment);
  if (!ins.ok() || ins.step() != SQLITE_DONE) return sql_error("insert feedback", write_db_);
  const int64_t id = sqlite3_last_insert_rowid(write_db_);
  if (negative_feedback_enqueues_ && in.score < kNegativeFeedbackBelow) {
    // A labeled request keeps its status: a complaint adds a reason, it does not undo a review.
    Stmt q(write_db_,
           "INSERT OR IGNORE INTO review_queue (request_id, ts_ms, status, enqueued_ms, "
           "updated_ms) VALUES (?1, ?2, 'open', ?3, ?3)");
    q.text(1, in.request_id, false).i64(2, *ts).i64(3, now_ms);
    Stmt r(write_db_,
           "INSERT OR IGNORE INTO review_reasons (reason, ts_ms, request_id) "
           "VALUES (?3, ?1, ?2)");
    r.i64(1, *ts).text(2, in.request_id, false);
    r.text(3, std::string(core::flag_name(core::ReviewFlag::kNegativeFeedback)), false);
    if (!q.ok() || q.step() != SQLITE_DONE || !r.ok() || r.step() != SQLITE_DONE) {
      return sql_error("enqueue for review", write_db_);
    }
    if (enqueued) *enqueued = true;
  }
  if (!txn.commit()) return sql_error("commit feedback", write_db_);
  return id;
}

Result<int64_t> ReviewDb::add_label(const LabelInput& in, int64_t now_ms) {
  std::lock_guard lk(write_mu_);
  Txn txn(write_db_);
  if (!txn.ok()) return sql_error("begin", write_db_);
  Result<int64_t> ts = request_ts(in.request_id);
  if (!ts) return ts.error();
  Stmt ins(write_db_,
           "INSERT INTO labels (request_id, ts_ms, verdict, sufficient_tier, corrected_answer, "
           "reviewer) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  ins.text(1, in.request_id, false).i64(2, now_ms).text(3, in.verdict, false);
  ins.text(4, in.sufficient_tier).text(5, in.corrected_answer).text(6, in.reviewer);
  if (!ins.ok() || ins.step() != SQLITE_DONE) return sql_error("insert label", write_db_);
  const int64_t id = sqlite3_last_insert_rowid(write_db_);
  Stmt q(write_db_,
         "INSERT INTO review_queue (request_id, ts_ms, status, enqueued_ms, updated_ms) "
         "VALUES (?1, ?2, 'labeled', ?3, ?3) "
         "ON CONFLICT(request_id) DO UPDATE SET status = 'labeled', updated_ms = ?3");
  q.text(1, in.request_id, false).i64(2, *ts).i64(3, now_ms);
  Stmt r(write_db_,
         "INSERT OR IGNORE INTO review_reasons (reason, ts_ms, request_id) "
         "SELECT ?3, ?1, ?2 WHERE NOT EXISTS "
         "(SELECT 1 FROM review_reasons WHERE request_id = ?2)");
  r.i64(1, *ts).text(2, in.request_id, false);
  r.text(3, std::string(core::flag_name(core::ReviewFlag::kManual)), false);
  // Reason first: the NOT EXISTS sees the reasons the sink or feedback recorded.
  if (!r.ok() || r.step() != SQLITE_DONE || !q.ok() || q.step() != SQLITE_DONE) {
    return sql_error("update review queue", write_db_);
  }
  if (!txn.commit()) return sql_error("commit label", write_db_);
  return id;
}

Result<ReviewPage> ReviewDb::list(const ReviewQuery& q) {
  if (q.status != "open" && q.status != "labeled" && q.status != "all") {
    return make_error(ErrorCode::kInvalidRequest,
                      "status must be open, labeled or all, got '" + q.status + "'", {}, "status");
  }
  int64_t cursor_ts = std::numeric_limits<int64_t>::max();
  std::string cursor_id;
  if (!q.cursor.empty() && !parse_cursor(q.cursor, cursor_ts, cursor_id)) {
    return make_error(ErrorCode::kInvalidRequest,
                      "malformed cursor; pass next_cursor from the previous page unchanged", {},
                      "cursor");
  }
  const int limit = std::clamp(q.limit, 1, 500);
  // Keyset pagination, newest first, each shape walking one index in order (LIMIT stops it):
  // by reason: review_reasons' primary key (reason, ts_ms, request_id); by status:
  // review_queue_status_ts; all: review_queue_ts.
  std::string sql = std::string("SELECT ") + kItemColumns;
  const std::string keyset =
      "(k.ts_ms < ?1 OR (k.ts_ms = ?1 AND k.request_id < ?2))";
  if (!q.reason.empty()) {
    sql += " FROM review_reasons k JOIN review_queue q ON q.request_id = k.request_id"
           " JOIN requests r ON r.request_id = k.request_id WHERE k.reason = ?4 AND " + keyset;
    if (q.status != "all") sql += " AND q.status = ?5";
  } else {
    sql += " FROM review_queue k JOIN review_queue q ON q.request_id = k.request_id"
           " JOIN requests r ON r.request_id = k.request_id WHERE " + keyset;
    if (q.status != "all") sql += " AND k.status = ?5";
  }
  sql += " ORDER BY k.ts_ms DESC, k.request_id DESC LIMIT ?3";

  std::lock_guard lk(read_mu_);
  Stmt s(read_db_, sql.c_str());
  if (!s.ok()) return sql_error("list review queue", read_db_);
  s.i64(1, cursor_ts).text(2, cursor_id, false).i64(3, limit + 1);
  if (!q.reason.empty()) s.text(4, q.reason, false);
  if (q.status != "all") s.text(5, q.status, false);
  ReviewPage page;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    ReviewItem it;
    read_item(s, it);
    page.items.push_back(std::move(it));
  }
  if (rc != SQLITE_DONE) return sql_error("list review queue", read_db_);
  if (page.items.size() > static_cast<size_t>(limit)) {
    page.items.resize(static_cast<size_t>(limit));
    const ReviewItem& last = page.items.back();
    page.next_cursor = std::to_string(last.ts_ms) + "." + last.request_id;
  }
  return page;
}

Result<ReviewDetail> ReviewDb::detail(const std::string& request_id) {
  std::lock_guard lk(read_mu_);
  ReviewDetail d;
  {
    Stmt s(read_db_, (std::string("SELECT ") + kItemColumns +
                      ", r.requested_model, r.provider, r.error_code, r.error_message, "
                      "r.finish_reason, r.tokens_in, r.tokens_out, r.total_us, r.flags, r.spans "
                      "FROM requests r LEFT JOIN review_queue q ON q.request_id = r.request_id "
                      "WHERE r.request_id = ?1")
                         .c_str());
    if (!s.ok()) return sql_error("read request", read_db_);
    s.text(1, request_id, false);
    const int rc = s.step();
    if (rc == SQLITE_DONE) {
      return make_error(ErrorCode::kNotFound,
                        "no request with id '" + request_id + "' in the request store");
    }
    if (rc != SQLITE_ROW) return sql_error("read request", read_db_);
    read_item(s, d.item);
    d.requested_model = s.col_text(12);
    d.provider = s.col_text(13);
    d.error_code = s.col_text(14);
    d.error_message = s.col_text(15);
    d.finish_reason = s.col_text(16);
    d.tokens_in = s.col_i64(17);
    d.tokens_out = s.col_i64(18);
    d.total_us = s.col_i64(19);
    d.flags_json = s.col_text(20);
    d.spans_json = s.col_text(21);
  }
  {
    Stmt s(read_db_, "SELECT messages, response, attempts FROM prompts WHERE request_id = ?1");
    if (!s.ok()) return sql_error("read payload", read_db_);
    s.text(1, request_id, false);
    if (s.step() == SQLITE_ROW) {
      d.has_payload = true;
      d.messages_json = s.col_text(0);
      d.response = s.col_text(1);
      d.attempts_json = s.col_text(2);
    }
  }
  {
    Stmt s(read_db_,
           "SELECT id, ts_ms, verdict, sufficient_tier, corrected_answer, reviewer FROM labels "
           "WHERE request_id = ?1 ORDER BY id");
    if (!s.ok()) return sql_error("read labels", read_db_);
    s.text(1, request_id, false);
    while (s.step() == SQLITE_ROW) {
      d.labels.push_back(LabelRow{s.col_i64(0), s.col_i64(1), s.col_text(2), s.col_text(3),
                                  s.col_text(4), s.col_text(5)});
    }
  }
  {
    Stmt s(read_db_,
           "SELECT id, ts_ms, score, thumbs, corrected_answer, comment FROM feedback "
           "WHERE request_id = ?1 ORDER BY id");
    if (!s.ok()) return sql_error("read feedback", read_db_);
    s.text(1, request_id, false);
    while (s.step() == SQLITE_ROW) {
      d.feedback.push_back(FeedbackRow{s.col_i64(0), s.col_i64(1), s.col_real(2), s.col_text(3),
                                       s.col_text(4), s.col_text(5)});
    }
  }
  return d;
}

}  // namespace triage::telemetry

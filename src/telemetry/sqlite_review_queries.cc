// SqliteStoreReader: the review queue, labels and feedback (telemetry/review_db.h).
#include <algorithm>
#include <limits>
#include <utility>

#include "core/review_flag.h"
#include "telemetry/sqlite_reader.h"
#include "telemetry/store_rows.h"

namespace triage::telemetry {
namespace {

using sqlite::Statement;
using sqlite::Step;

// Columns shared by list() and detail(): queue entry (maybe NULL) + request row.
constexpr const char* kItemColumns =
    "r.request_id, r.ts_ms, q.status, "
    "(SELECT group_concat(reason, ',') FROM review_reasons rr WHERE rr.request_id = r.request_id), "
    "r.route, r.model, r.tier, r.category, r.cost_usd, r.status, r.label, r.confidence";

Error read_only_error() {
  return make_error(ErrorCode::kInternal, "review store error: opened read-only",
                    "review writes need StoreReaderOptions::review_writes");
}

}  // namespace

Result<int64_t> SqliteStoreReader::request_ts(const std::string& request_id,
                                             const std::string& api_key_id) {
  Statement s(write_, "SELECT ts_ms, COALESCE(api_key_id, '') FROM requests WHERE request_id = ?1");
  if (!s.ok()) return sql_error("lookup", write_);
  const Step rc = s.bind(1, request_id).step();
  if (rc == Step::kRow && (api_key_id.empty() || s.text(1) == api_key_id)) return s.i64(0);
  if (rc == Step::kRow || rc == Step::kDone) {
    return make_error(ErrorCode::kNotFound,
                      "no request with id '" + request_id +
                          "' in the request store (use the id from the response's "
                          "x-request-id header or the chat completion id without 'chatcmpl-')",
                      {}, "request_id");
  }
  return sql_error("lookup", write_);
}

Result<int64_t> SqliteStoreReader::add_feedback(const FeedbackInput& in, int64_t now_ms,
                                                bool* enqueued) {
  if (enqueued) *enqueued = false;
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return read_only_error();
  sqlite::Transaction txn(write_);
  if (!txn.ok()) return sql_error("begin", write_);
  Result<int64_t> ts = request_ts(in.request_id, in.api_key_id);
  if (!ts) return ts.error();
  Statement ins(write_,
                "INSERT INTO feedback (request_id, ts_ms, score, thumbs, corrected_answer, "
                "comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!ins.ok()) return sql_error("insert feedback", write_);
  ins.bind(1, in.request_id).bind(2, now_ms).bind(3, in.score).bind_or_null(4, in.thumbs);
  ins.bind_or_null(5, in.corrected_answer).bind_or_null(6, in.comment);
  if (!ins.run()) return sql_error("insert feedback", write_);
  const int64_t id = write_.last_insert_rowid();
  if (options_.negative_feedback_enqueues && in.score < kNegativeFeedbackBelow) {
    // A labeled request keeps its status: a complaint adds a reason, it does not undo a review.
    Statement q(write_,
                "INSERT OR IGNORE INTO review_queue (request_id, ts_ms, status, enqueued_ms, "
                "updated_ms) VALUES (?1, ?2, 'open', ?3, ?3)");
    Statement r(write_,
                "INSERT OR IGNORE INTO review_reasons (reason, ts_ms, request_id) "
                "VALUES (?3, ?1, ?2)");
    if (!q.ok() || !q.bind(1, in.request_id).bind(2, *ts).bind(3, now_ms).run() || !r.ok() ||
        !r.bind(1, *ts).bind(2, in.request_id)
             .bind_static(3, core::flag_name(core::ReviewFlag::kNegativeFeedback))
             .run()) {
      return sql_error("enqueue for review", write_);
    }
    if (enqueued) *enqueued = true;
  }
  if (!txn.commit()) return sql_error("commit feedback", write_);
  return id;
}

Result<int64_t> SqliteStoreReader::add_label(const LabelInput& in, int64_t now_ms) {
  std::lock_guard lk(write_mu_);
  if (!write_.is_open()) return read_only_error();
  sqlite::Transaction txn(write_);
  if (!txn.ok()) return sql_error("begin", write_);
  Result<int64_t> ts = request_ts(in.request_id);
  if (!ts) return ts.error();
  Statement ins(write_,
                "INSERT INTO labels (request_id, ts_ms, verdict, sufficient_tier, "
                "corrected_answer, reviewer) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!ins.ok()) return sql_error("insert label", write_);
  ins.bind(1, in.request_id).bind(2, now_ms).bind(3, in.verdict);
  ins.bind_or_null(4, in.sufficient_tier).bind_or_null(5, in.corrected_answer);
  ins.bind_or_null(6, in.reviewer);
  if (!ins.run()) return sql_error("insert label", write_);
  const int64_t id = write_.last_insert_rowid();
  Statement q(write_,
              "INSERT INTO review_queue (request_id, ts_ms, status, enqueued_ms, updated_ms) "
              "VALUES (?1, ?2, 'labeled', ?3, ?3) "
              "ON CONFLICT(request_id) DO UPDATE SET status = 'labeled', updated_ms = ?3");
  Statement r(write_,
              "INSERT OR IGNORE INTO review_reasons (reason, ts_ms, request_id) "
              "SELECT ?3, ?1, ?2 WHERE NOT EXISTS "
              "(SELECT 1 FROM review_reasons WHERE request_id = ?2)");
  // Reason first: the NOT EXISTS sees the reasons the sink or feedback recorded.
  if (!r.ok() ||
      !r.bind(1, *ts)
           .bind(2, in.request_id)
           .bind_static(3, core::flag_name(core::ReviewFlag::kManual))
           .run() ||
      !q.ok() ||
      !q.bind(1, in.request_id).bind(2, *ts).bind(3, now_ms).run()) {
    return sql_error("update review queue", write_);
  }
  if (!txn.commit()) return sql_error("commit label", write_);
  return id;
}

Result<ReviewPage> SqliteStoreReader::list(const ReviewQuery& q) {
  if (auto v = validate_review_query(q); !v) return v.error();
  int64_t cursor_ts = std::numeric_limits<int64_t>::max();
  std::string cursor_id;
  if (!q.cursor.empty()) parse_review_cursor(q.cursor, cursor_ts, cursor_id);
  const int limit = std::clamp(q.limit, 1, 500);
  // Keyset pagination, newest first, each shape walking one index in order (LIMIT stops it):
  // by reason: review_reasons' primary key (reason, ts_ms, request_id); by status:
  // review_queue_status_ts; all: review_queue_ts.
  std::string sql = std::string("SELECT ") + kItemColumns;
  const std::string keyset = "(k.ts_ms < ?1 OR (k.ts_ms = ?1 AND k.request_id < ?2))";
  if (!q.reason.empty()) {
    sql +=
        " FROM review_reasons k JOIN review_queue q ON q.request_id = k.request_id"
        " JOIN requests r ON r.request_id = k.request_id WHERE k.reason = ?4 AND " +
        keyset;
    if (q.status != "all") sql += " AND q.status = ?5";
  } else {
    sql +=
        " FROM review_queue k JOIN review_queue q ON q.request_id = k.request_id"
        " JOIN requests r ON r.request_id = k.request_id WHERE " +
        keyset;
    if (q.status != "all") sql += " AND k.status = ?5";
  }
  sql += " ORDER BY k.ts_ms DESC, k.request_id DESC LIMIT ?3";

  std::lock_guard lk(read_mu_);
  Statement s(read_, sql);
  if (!s.ok()) return sql_error("list review queue", read_);
  s.bind(1, cursor_ts).bind(2, cursor_id).bind(3, limit + 1);
  if (!q.reason.empty()) s.bind(4, q.reason);
  if (q.status != "all") s.bind(5, q.status);
  ReviewPage page;
  const bool read_all = s.for_each_row([&] {
    ReviewItem it;
    read_review_item(s, it);
    page.items.push_back(std::move(it));
  });
  if (!read_all) return sql_error("list review queue", read_);
  if (page.items.size() > static_cast<size_t>(limit)) {
    page.items.resize(static_cast<size_t>(limit));
    page.next_cursor = review_cursor(page.items.back());
  }
  return page;
}

Result<ReviewDetail> SqliteStoreReader::detail(const std::string& request_id) {
  std::lock_guard lk(read_mu_);
  ReviewDetail d;
  {
    Statement s(read_, std::string("SELECT ") + kItemColumns +
                           ", r.requested_model, r.provider, r.error_code, r.error_message, "
                           "r.finish_reason, r.tokens_in, r.tokens_out, r.total_us, r.flags, "
                           "r.spans FROM requests r LEFT JOIN review_queue q "
                           "ON q.request_id = r.request_id WHERE r.request_id = ?1");
    if (!s.ok()) return sql_error("read request", read_);
    const Step rc = s.bind(1, request_id).step();
    if (rc == Step::kDone) {
      return make_error(ErrorCode::kNotFound,
                        "no request with id '" + request_id + "' in the request store");
    }
    if (rc != Step::kRow) return sql_error("read request", read_);
    read_review_item(s, d.item);
    d.requested_model = s.text(12);
    d.provider = s.text(13);
    d.error_code = s.text(14);
    d.error_message = s.text(15);
    d.finish_reason = s.text(16);
    d.tokens_in = s.i64(17);
    d.tokens_out = s.i64(18);
    d.total_us = s.i64(19);
    d.flags_json = s.text(20);
    d.spans_json = s.text(21);
  }
  {
    Statement s(read_, "SELECT messages, response, attempts FROM prompts WHERE request_id = ?1");
    if (!s.ok()) return sql_error("read payload", read_);
    if (s.bind(1, request_id).step() == Step::kRow) {
      d.has_payload = true;
      d.messages_json = s.text(0);
      d.response = s.text(1);
      d.attempts_json = s.text(2);
    }
  }
  {
    Statement s(read_,
                "SELECT id, ts_ms, verdict, sufficient_tier, corrected_answer, reviewer "
                "FROM labels WHERE request_id = ?1 ORDER BY id");
    if (!s.ok()) return sql_error("read labels", read_);
    s.bind(1, request_id);
    while (s.step() == Step::kRow) {
      d.labels.push_back(LabelRow{s.i64(0), s.i64(1), s.text(2), s.text(3), s.text(4), s.text(5)});
    }
  }
  {
    Statement s(read_,
                "SELECT id, ts_ms, score, thumbs, corrected_answer, comment FROM feedback "
                "WHERE request_id = ?1 ORDER BY id");
    if (!s.ok()) return sql_error("read feedback", read_);
    s.bind(1, request_id);
    while (s.step() == Step::kRow) {
      d.feedback.push_back(
          FeedbackRow{s.i64(0), s.i64(1), s.real(2), s.text(3), s.text(4), s.text(5)});
    }
  }
  return d;
}

}  // namespace triage::telemetry

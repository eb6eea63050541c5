// PgStoreReader: the review queue, labels and feedback (telemetry/review_db.h), ported from
// sqlite_review_queries.cc. Each write is one transaction; PostgreSQL's COMMIT is durable
// (synchronous_commit on, its default) before the method returns.
#include <algorithm>
#include <limits>
#include <utility>

#include "core/review_flag.h"
#include "telemetry/pg_reader.h"
#include "telemetry/store_rows.h"

namespace triage::telemetry {
namespace {

// Columns shared by list() and detail(): queue entry (maybe NULL) + request row. Reasons in
// byte order, as SQLite's group_concat reads them off its (reason, ...) key.
constexpr const char* kItemColumns =
    "r.request_id, r.ts_ms, q.status, "
    "(SELECT string_agg(reason, ',' ORDER BY reason) FROM review_reasons rr "
    "WHERE rr.request_id = r.request_id), "
    "r.route, r.model, r.tier, r.category, r.cost_usd, r.status, r.label, r.confidence";

}  // namespace

Result<int64_t> PgStoreReader::request_ts(const std::string& request_id,
                                          const std::string& api_key_id) {
  auto s = db_.exec("SELECT ts_ms, COALESCE(api_key_id, '') FROM requests WHERE request_id = $1",
                    pg::Params().add(request_id));
  if (!s) return sql_error("lookup", s.error());
  if (s->rows() == 1 && (api_key_id.empty() || s->text(0, 1) == api_key_id)) return s->i64(0, 0);
  return make_error(ErrorCode::kNotFound,
                    "no request with id '" + request_id +
                        "' in the request store (use the id from the response's "
                        "x-request-id header or the chat completion id without 'chatcmpl-')",
                    {}, "request_id");
}

Result<int64_t> PgStoreReader::add_feedback(const FeedbackInput& in, int64_t now_ms,
                                            bool* enqueued) {
  if (enqueued) *enqueued = false;
  std::lock_guard lk(mu_);
  if (auto w = writable("review"); !w) return w.error();
  ensure_connected();
  pg::Transaction txn(db_);
  if (!txn.ok()) return sql_error("begin", make_error(ErrorCode::kInternal, db_.last_error()));
  Result<int64_t> ts = request_ts(in.request_id, in.api_key_id);
  if (!ts) return ts.error();
  auto ins = db_.exec(
      "INSERT INTO feedback (request_id, ts_ms, score, thumbs, corrected_answer, comment) "
      "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
      pg::Params()
          .add(in.request_id)
          .add(now_ms)
          .add(in.score)
          .add_or_null(in.thumbs)
          .add_or_null(in.corrected_answer)
          .add_or_null(in.comment));
  if (!ins) return sql_error("insert feedback", ins.error());
  const int64_t id = ins->i64(0, 0);
  if (options_.negative_feedback_enqueues && in.score < kNegativeFeedbackBelow) {
    // A labeled request keeps its status: a complaint adds a reason, it does not undo a review.
    auto q = db_.exec(
        "INSERT INTO review_queue (request_id, ts_ms, status, enqueued_ms, updated_ms) "
        "VALUES ($1, $2, 'open', $3, $3) ON CONFLICT (request_id) DO NOTHING",
        pg::Params().add(in.request_id).add(*ts).add(now_ms));
    if (!q) return sql_error("enqueue for review", q.error());
    auto r = db_.exec(
        "INSERT INTO review_reasons (reason, ts_ms, request_id) VALUES ($3, $1, $2) "
        "ON CONFLICT DO NOTHING",
        pg::Params()
            .add(*ts)
            .add(in.request_id)
            .add(core::flag_name(core::ReviewFlag::kNegativeFeedback)));
    if (!r) return sql_error("enqueue for review", r.error());
    if (enqueued) *enqueued = true;
  }
  if (auto c = txn.commit(); !c) return sql_error("commit feedback", c.error());
  return id;
}

Result<int64_t> PgStoreReader::add_label(const LabelInput& in, int64_t now_ms) {
  std::lock_guard lk(mu_);
  if (auto w = writable("review"); !w) return w.error();
  ensure_connected();
  pg::Transaction txn(db_);
  if (!txn.ok()) return sql_error("begin", make_error(ErrorCode::kInternal, db_.last_error()));
  Result<int64_t> ts = request_ts(in.request_id);
  if (!ts) return ts.error();
  auto ins = db_.exec(
      "INSERT INTO labels (request_id, ts_ms, verdict, sufficient_tier, corrected_answer, "
      "reviewer) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
      pg::Params()
          .add(in.request_id)
          .add(now_ms)
          .add(in.verdict)
          .add_or_null(in.sufficient_tier)
          .add_or_null(in.corrected_answer)
          .add_or_null(in.reviewer));
  if (!ins) return sql_error("insert label", ins.error());
  const int64_t id = ins->i64(0, 0);
  // Reason first: the NOT EXISTS sees the reasons the sink or feedback recorded.
  auto r = db_.exec(
      "INSERT INTO review_reasons (reason, ts_ms, request_id) SELECT $3, $1, $2 "
      "WHERE NOT EXISTS (SELECT 1 FROM review_reasons WHERE request_id = $2) "
      "ON CONFLICT DO NOTHING",
      pg::Params().add(*ts).add(in.request_id).add(core::flag_name(core::ReviewFlag::kManual)));
  if (!r) return sql_error("update review queue", r.error());
  auto q = db_.exec(
      "INSERT INTO review_queue (request_id, ts_ms, status, enqueued_ms, updated_ms) "
      "VALUES ($1, $2, 'labeled', $3, $3) "
      "ON CONFLICT (request_id) DO UPDATE SET status = 'labeled', updated_ms = $3",
      pg::Params().add(in.request_id).add(*ts).add(now_ms));
  if (!q) return sql_error("update review queue", q.error());
  if (auto c = txn.commit(); !c) return sql_error("commit label", c.error());
  return id;
}

Result<ReviewPage> PgStoreReader::list(const ReviewQuery& q) {
  if (auto v = validate_review_query(q); !v) return v.error();
  int64_t cursor_ts = std::numeric_limits<int64_t>::max();
  std::string cursor_id;
  if (!q.cursor.empty()) parse_review_cursor(q.cursor, cursor_ts, cursor_id);
  const int limit = std::clamp(q.limit, 1, 500);
  // Keyset pagination, newest first, each shape walking one index in order (as SQLite's).
  std::string sql = std::string("SELECT ") + kItemColumns;
  const std::string keyset = "(k.ts_ms, k.request_id) < ($1, $2)";
  pg::Params p;
  p.add(cursor_ts).add(cursor_id).add(limit + 1);
  if (!q.reason.empty()) {
    sql +=
        " FROM review_reasons k JOIN review_queue q ON q.request_id = k.request_id"
        " JOIN requests r ON r.request_id = k.request_id WHERE k.reason = $4 AND " +
        keyset;
    p.add(q.reason);
    if (q.status != "all") {
      sql += " AND q.status = $5";
      p.add(q.status);
    }
  } else {
    sql +=
        " FROM review_queue k JOIN review_queue q ON q.request_id = k.request_id"
        " JOIN requests r ON r.request_id = k.request_id WHERE " +
        keyset;
    if (q.status != "all") {
      sql += " AND k.status = $4";
      p.add(q.status);
    }
  }
  sql += " ORDER BY k.ts_ms DESC, k.request_id DESC LIMIT $3";
  std::lock_guard lk(mu_);
  auto s = query(sql, p);
  if (!s) return sql_error("list review queue", s.error());
  ReviewPage page;
  for (int i = 0; i < s->rows(); ++i) {
    ReviewItem it;
    read_review_item(pg::Row(*s, i), it);
    page.items.push_back(std::move(it));
  }
  if (page.items.size() > static_cast<size_t>(limit)) {
    page.items.resize(static_cast<size_t>(limit));
    page.next_cursor = review_cursor(page.items.back());
  }
  return page;
}

Result<ReviewDetail> PgStoreReader::detail(const std::string& request_id) {
  std::lock_guard lk(mu_);
  ReviewDetail d;
  const pg::Params id = pg::Params().add(request_id);
  {
    auto s = query(std::string("SELECT ") + kItemColumns +
                       ", r.requested_model, r.provider, r.error_code, r.error_message, "
                       "r.finish_reason, r.tokens_in, r.tokens_out, r.total_us, r.flags, "
                       "r.spans FROM requests r LEFT JOIN review_queue q "
                       "ON q.request_id = r.request_id WHERE r.request_id = $1",
                   id);
    if (!s) return sql_error("read request", s.error());
    if (s->rows() == 0) {
      return make_error(ErrorCode::kNotFound,
                        "no request with id '" + request_id + "' in the request store");
    }
    read_review_item(pg::Row(*s, 0), d.item);
    d.requested_model = s->text(0, 12);
    d.provider = s->text(0, 13);
    d.error_code = s->text(0, 14);
    d.error_message = s->text(0, 15);
    d.finish_reason = s->text(0, 16);
    d.tokens_in = s->i64(0, 17);
    d.tokens_out = s->i64(0, 18);
    d.total_us = s->i64(0, 19);
    d.flags_json = s->text(0, 20);
    d.spans_json = s->text(0, 21);
  }
  {
    auto s = query("SELECT messages, response, attempts FROM prompts WHERE request_id = $1", id);
    if (!s) return sql_error("read payload", s.error());
    if (s->rows() == 1) {
      d.has_payload = true;
      d.messages_json = s->text(0, 0);
      d.response = s->text(0, 1);
      d.attempts_json = s->text(0, 2);
    }
  }
  {
    auto s = query(
        "SELECT id, ts_ms, verdict, sufficient_tier, corrected_answer, reviewer "
        "FROM labels WHERE request_id = $1 ORDER BY id",
        id);
    if (!s) return sql_error("read labels", s.error());
    for (int i = 0; i < s->rows(); ++i) {
      d.labels.push_back(LabelRow{s->i64(i, 0), s->i64(i, 1), s->text(i, 2), s->text(i, 3),
                                  s->text(i, 4), s->text(i, 5)});
    }
  }
  {
    auto s = query(
        "SELECT id, ts_ms, score, thumbs, corrected_answer, comment FROM feedback "
        "WHERE request_id = $1 ORDER BY id",
        id);
    if (!s) return sql_error("read feedback", s.error());
    for (int i = 0; i < s->rows(); ++i) {
      d.feedback.push_back(FeedbackRow{s->i64(i, 0), s->i64(i, 1), s->real(i, 2), s->text(i, 3),
                                       s->text(i, 4), s->text(i, 5)});
    }
  }
  return d;
}

}  // namespace triage::telemetry

#pragma once
// The review queue, labels and feedback as the admin API sees them: synchronous, durable
// writes and paginated reads on the request store's SQLite file (schema in docs/store.md).
//
// Threading: every method blocks on SQLite I/O, so call it from a worker thread, never an I/O
// thread (server/admin_api.cc posts to its pool). Thread-safe: writes share one connection
// under write_mu_, reads another under read_mu_; readers never block the store's writer (WAL).
//
// Durability: labels and feedback are user data. Each write is its own transaction on a
// connection with synchronous=FULL, so when a method returns success the row is on disk (the
// WAL is fsynced), independent of the request store's lossy, batched trace queue.
#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace triage::telemetry {

struct FeedbackInput {
  std::string request_id;
  double score = 0.0;    // 0..1; thumbs up = 1, thumbs down = 0
  std::string thumbs;    // "up" | "down" when given that way, else empty
  std::string corrected_answer;
  std::string comment;
};

struct LabelInput {
  std::string request_id;
  std::string verdict;          // correct | incorrect
  std::string sufficient_tier;  // cheapest tier that would have answered well; may be empty
  std::string corrected_answer;
  std::string reviewer;
};

// A score below this is negative feedback (it enters the review queue when configured).
inline constexpr double kNegativeFeedbackBelow = 0.5;

struct ReviewQuery {
  std::string status = "open";  // open | labeled | all
  std::string reason;           // empty: any reason
  int limit = 50;               // 1..500
  std::string cursor;           // from the previous page's next_cursor; empty: newest first
};

// One queue entry joined with its request row (request fields empty/0 when the row is gone).
struct ReviewItem {
  std::string request_id;
  int64_t ts_ms = 0;
  std::string status;  // open | labeled
  std::vector<std::string> reasons;
  std::string route, model, tier, category;
  double cost_usd = 0.0;
  int http_status = 0;
  std::string label;
  std::optional<double> confidence;
};

struct ReviewPage {
  std::vector<ReviewItem> items;
  std::string next_cursor;  // empty on the last page
};

struct LabelRow {
  int64_t id = 0;
  int64_t ts_ms = 0;
  std::string verdict, sufficient_tier, corrected_answer, reviewer;
};

struct FeedbackRow {
  int64_t id = 0;
  int64_t ts_ms = 0;
  double score = 0.0;
  std::string thumbs, corrected_answer, comment;
};

// Everything the review page shows about one request.
struct ReviewDetail {
  ReviewItem item;              // status empty when the request is not in the queue
  std::string requested_model, provider, error_code, error_message, finish_reason;
  int64_t tokens_in = 0, tokens_out = 0, total_us = 0;
  std::string flags_json = "[]";  // the requests row's JSON columns, verbatim
  std::string spans_json = "[]";
  bool has_payload = false;       // false when store.keep_payloads was off for it
  std::string messages_json;      // JSON array, as the client sent it
  std::string response;           // the answer returned
  std::string attempts_json;      // [{"model","tier","ok","output"}] per model call
  std::vector<LabelRow> labels;   // oldest first
  std::vector<FeedbackRow> feedback;
};

class ReviewDb {
 public:
  // Opens `path`, which the request store has created (schema version 2). Throws
  // std::runtime_error naming the path when it cannot be opened or has another schema.
  // `negative_feedback_enqueues`: config review.negative_feedback.
  ReviewDb(const std::string& path, bool negative_feedback_enqueues);
  ~ReviewDb();
  ReviewDb(const ReviewDb&) = delete;
  ReviewDb& operator=(const ReviewDb&) = delete;

  // Stores feedback; kNotFound when the request has no row (yet). Returns the feedback id.
  // `enqueued` (optional) is set when it put the request in the review queue.
  Result<int64_t> add_feedback(const FeedbackInput& in, int64_t now_ms, bool* enqueued = nullptr);
  // Stores a label and marks the queue entry labeled (adding one with reason "manual" when the
  // request was not queued); kNotFound without a request row. Returns the label id.
  Result<int64_t> add_label(const LabelInput& in, int64_t now_ms);

  // kInvalidRequest for a malformed cursor or status.
  Result<ReviewPage> list(const ReviewQuery& q);
  // kNotFound when the request has no row.
  Result<ReviewDetail> detail(const std::string& request_id);

 private:
  Result<int64_t> request_ts(const std::string& request_id);  // under write_mu_
  Error sql_error(const char* what, sqlite3* db) const;

  std::string path_;
  bool negative_feedback_enqueues_;
  std::mutex write_mu_;
  sqlite3* write_db_ = nullptr;  // guarded by write_mu_
  std::mutex read_mu_;
  sqlite3* read_db_ = nullptr;  // guarded by read_mu_
};

}  // namespace triage::telemetry

#pragma once
// The review queue, labels and feedback as the admin API sees them (schema in docs/store.md,
// rules in docs/review.md): typed queries and rows, no backend types. The SQLite
// implementation is telemetry/sqlite_reader.h; open one with telemetry/store_reader.h.
//
// Contract of every implementation:
//  - Threading: every method blocks on I/O, so call it from a worker thread, never an I/O
//    thread (server/admin_api.cc posts to its pool). Thread-safe.
//  - Durability: labels and feedback are user data. Each write is its own transaction and is
//    durable (SQLite: fsynced, synchronous=FULL) when the method returns success, independent
//    of the request store's lossy, batched trace queue.
//  - Reads never block the store's writer.
#include <cstdint>
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
  // The client key giving the feedback ("key_..."): then only a request made with that key
  // is found. Empty: any request (an operator, or a gateway without keys).
  std::string api_key_id;
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
  virtual ~ReviewDb() = default;

  // Stores feedback; kNotFound when the request has no row (yet). Returns the feedback id.
  // `enqueued` (optional) is set when it put the request in the review queue: negative
  // feedback (score below kNegativeFeedbackBelow) does when the store was opened with
  // StoreReaderOptions::negative_feedback_enqueues (config review.negative_feedback); a labeled
  // request keeps its status (a complaint adds a reason, it does not undo a review).
  virtual Result<int64_t> add_feedback(const FeedbackInput& in, int64_t now_ms,
                                       bool* enqueued = nullptr) = 0;
  // Stores a label and marks the queue entry labeled (adding one with reason "manual" when the
  // request was not queued); kNotFound without a request row. Returns the label id.
  virtual Result<int64_t> add_label(const LabelInput& in, int64_t now_ms) = 0;

  // Newest first, keyset pages (ReviewCursor). kInvalidRequest for a malformed cursor or status.
  virtual Result<ReviewPage> list(const ReviewQuery& q) = 0;
  // kNotFound when the request has no row.
  virtual Result<ReviewDetail> detail(const std::string& request_id) = 0;
};

// The page cursor "<ts_ms>.<request_id>": the last item of the previous page. Every backend
// pages the same way, so a cursor means the same thing whatever the store.
std::string review_cursor(const ReviewItem& last);
bool parse_review_cursor(const std::string& cursor, int64_t& ts_ms, std::string& request_id);
// kInvalidRequest naming `status` or `cursor`, for a query no backend can answer.
Result<void> validate_review_query(const ReviewQuery& q);

}  // namespace triage::telemetry

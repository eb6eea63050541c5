#pragma once
// SQLite request store: WAL journal, synchronous=NORMAL, one writer thread fed by a bounded
// multi-producer queue, batched transactions with prepared statements. Schema and behaviour
// are documented in docs/store.md.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "telemetry/request_row.h"
#include "telemetry/request_store.h"
#include "telemetry/sqlite_db.h"

namespace triage::telemetry {

struct SqliteStoreOptions {
  std::string path;  // database file, created with its schema when missing; ":memory:" for none
  int64_t queue_capacity = 100000;  // traces accepted but not yet committed; more are dropped
  int64_t batch_size = 512;         // rows per transaction: larger = faster, more lost on crash
  int64_t flush_interval_ms = 200;  // longest a queued row waits before a partial batch commits
};

class SqliteStore final : public RequestStore {
 public:
  static constexpr int kSchemaVersion = 11;  // 1 to 10 are migrated on open

  // Opens (or creates) the database, applies pragmas and schema, prepares statements and starts
  // the writer thread. Throws std::runtime_error naming the path on any failure.
  explicit SqliteStore(SqliteStoreOptions options);
  ~SqliteStore() override;  // close()
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void consume(const core::TracePtr& trace) override;
  void close() override;
  int64_t dropped() const override { return dropped_.load(std::memory_order_relaxed); }
  int64_t written() const override { return written_.load(std::memory_order_relaxed); }
  int64_t queued() const override { return queued_.load(std::memory_order_relaxed); }
  std::string name() const override { return "sqlite/3"; }
  bool enqueue_review(ReviewEntry entry) override;
  bool flush(int64_t timeout_ms) override;

  // Maintenance/test hook: while held, the writer commits nothing (consume() keeps queueing,
  // then drops once the queue is full). release() resumes; close() releases implicitly.
  void hold();
  void release();

  const std::string& path() const { return options_.path; }

 private:
  void open_database();  // throws
  void writer_loop();
  void write_batch(const std::vector<core::TracePtr>& batch, size_t begin, size_t end);
  bool bind_and_step(const core::Trace& t);  // false: this row failed (logged by caller)
  void write_prompt(const core::Trace& t);   // table prompts; failures logged, row kept
  void write_reviews(const std::vector<ReviewEntry>& reviews);  // own transaction
  bool write_rollup();  // upserts rollup_ inside the batch's transaction; false on an error

  // Rollups of one batch (telemetry/request_row.h), one upsert statement per table
  // (kRollupTables order). Writer thread only.
  RollupBatch rollup_;
  sqlite::Statement rollup_upsert_[kRollupLevels];
  RequestRow row_;  // the row being inserted (writer thread only; reused)
  void count_drop(int64_t n, const char* why);

  const SqliteStoreOptions options_;
  // Writer thread only, after construction. Statements are declared after the connection so
  // that they are finalized before it closes.
  sqlite::Connection db_;
  sqlite::Statement insert_;
  sqlite::Statement begin_;
  sqlite::Statement commit_;
  sqlite::Statement insert_review_;
  sqlite::Statement insert_reason_;
  sqlite::Statement insert_prompt_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<core::TracePtr> pending_;       // guarded by mu_
  std::vector<ReviewEntry> pending_reviews_;  // guarded by mu_; bounded by queue_capacity
  uint64_t enqueued_seq_ = 0;   // guarded by mu_: items ever accepted (traces + reviews)
  uint64_t committed_seq_ = 0;  // guarded by mu_: enqueued_seq_ as of the last finished write
  int flush_waiters_ = 0;       // guarded by mu_: flush() callers waiting; writer skips timer
  std::condition_variable flushed_cv_;  // committed_seq_ advanced
  SteadyTime oldest_pending_;           // guarded by mu_: when pending_ became non-empty
  bool stopping_ = false;               // guarded by mu_
  bool held_ = false;                   // guarded by mu_
  bool writer_waiting_ = false;         // guarded by mu_: consumers notify only when set

  std::atomic<int64_t> queued_{0};  // pending_ + the batch being written
  std::atomic<int64_t> written_{0};
  std::atomic<int64_t> dropped_{0};
  std::atomic<bool> closed_{false};  // consume() drops once set
  std::atomic<int64_t> last_drop_log_ms_{0};

  std::mutex close_mu_;  // serialises close()
  std::thread writer_;
};

}  // namespace triage::telemetry

#pragma once
// SQLite request store: WAL journal, synchronous=NORMAL, one writer thread fed by a bounded
// multi-producer queue, batched transactions with prepared statements. Schema and behaviour
// are documented in docs/store.md.
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "telemetry/request_row.h"
#include "telemetry/request_store.h"
#include "telemetry/sqlite_db.h"
#include "telemetry/write_queue.h"

namespace triage::telemetry {

struct SqliteStoreOptions {
  std::string path;  // database file, created with its schema when missing; ":memory:" for none
  int64_t queue_capacity = 100000;  // traces accepted but not yet committed; more are dropped
  int64_t batch_size = 512;         // rows per transaction: larger = faster, more lost on crash
  int64_t flush_interval_ms = 200;  // longest a queued row waits before a partial batch commits
};

class SqliteStore final : public RequestStore {
 public:
  static constexpr int kSchemaVersion = 12;  // 1 to 11 are migrated on open

  // Opens (or creates) the database, applies pragmas and schema, prepares statements and starts
  // the writer thread. Throws std::runtime_error naming the path on any failure.
  explicit SqliteStore(SqliteStoreOptions options);
  ~SqliteStore() override;  // close()
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void consume(const core::TracePtr& trace) override;
  void close() override;
  int64_t dropped() const override { return queue_.dropped(); }
  int64_t written() const override { return queue_.written(); }
  int64_t queued() const override { return queue_.queued(); }
  std::string name() const override { return "sqlite/3"; }
  bool enqueue_review(ReviewEntry entry) override;
  bool flush(int64_t timeout_ms) override;

  // Maintenance/test hook: while held, the writer commits nothing (consume() keeps queueing,
  // then drops once the queue is full). release() resumes; close() releases implicitly.
  void hold() { queue_.hold(); }
  void release() { queue_.release(); }

  const std::string& path() const { return options_.path; }

 private:
  void open_database();  // throws
  void writer_loop();
  // Writes batch[begin, end) in one transaction and releases each trace as soon as its row is
  // written or has failed (the pointer is left null); after a failed BEGIN it releases none.
  void write_batch(std::vector<core::TracePtr>& batch, size_t begin, size_t end);
  bool bind_and_step(const core::Trace& t);  // false: this row failed (logged by caller)
  void write_prompt(const core::Trace& t);   // table prompts; failures logged, row kept
  void write_reviews(const std::vector<ReviewEntry>& reviews);  // own transaction
  bool write_rollup();  // upserts rollup_ inside the batch's transaction; false on an error

  // Rollups of one batch (telemetry/request_row.h), one upsert statement per table
  // (kRollupTables order). Writer thread only.
  RollupBatch rollup_;
  sqlite::Statement rollup_upsert_[kRollupLevels];
  RequestRow row_;  // the row being inserted (writer thread only; reused)

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

  WriteQueue queue_;

  std::mutex close_mu_;  // serialises close()
  std::thread writer_;
};

}  // namespace triage::telemetry

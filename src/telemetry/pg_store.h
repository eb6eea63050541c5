#pragma once
// PostgreSQL request store (store.type: postgres, docs/store.md "PostgreSQL"): the same
// contract as SqliteStore (request_store.h) for many replicas sharing one database. One
// writer thread fed by a bounded multi-producer queue; one transaction per batch with
// multi-row INSERTs (the rows, their rollups, their payloads). When the database is away the
// writer keeps its batch, reconnects by itself with exponential backoff and retries; new
// traces queue up to queue_capacity meanwhile (beyond it they are dropped and counted).
// consume() never blocks and never does I/O.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "telemetry/pg_db.h"
#include "telemetry/request_row.h"
#include "telemetry/request_store.h"
#include "telemetry/write_queue.h"

namespace triage::telemetry {

struct PgStoreOptions {
  std::string conninfo;  // libpq key=value string or postgres:// URI (may hold no password)
  std::string password;  // from store.password_env; overrides one in conninfo; never logged
  int64_t queue_capacity = 100000;  // traces accepted but not yet committed; more are dropped
  int64_t batch_size = 512;         // rows per transaction
  int64_t flush_interval_ms = 200;  // longest a queued row waits before a partial batch commits
  // Reconnect backoff while the database is away: doubles from min to max.
  int64_t reconnect_min_ms = 100;
  int64_t reconnect_max_ms = 5000;
  // close() with the database away: how long it keeps retrying before it counts what is
  // left as dropped (it never blocks forever).
  int64_t drain_timeout_ms = 10000;
};

class PgStore final : public RequestStore {
 public:
  // Connects, creates or migrates the schema (pg_schema.h) and starts the writer. Throws
  // std::runtime_error "request store postgresql://user@host:port/db: ..." (never the
  // password) when the database cannot be reached or its schema is not one this build knows.
  explicit PgStore(PgStoreOptions options);
  ~PgStore() override;  // close()
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  void consume(const core::TracePtr& trace) override;
  void close() override;
  int64_t dropped() const override { return queue_.dropped(); }
  int64_t written() const override { return queue_.written(); }
  int64_t queued() const override { return queue_.queued(); }
  std::string name() const override { return "postgres/1"; }
  bool enqueue_review(ReviewEntry entry) override;
  bool flush(int64_t timeout_ms) override;

  // Whether the writer's last attempt reached the database (false while it reconnects).
  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  bool database_up() const override { return connected(); }
  bool queue_full() const override { return queue_.full(); }
  // Times the writer lost the database and got it back.
  int64_t reconnects() const override { return reconnects_.load(std::memory_order_relaxed); }

  // Test hook, as SqliteStore's: while held, the writer commits nothing.
  void hold() { queue_.hold(); }
  void release() { queue_.release(); }

  // The database for logs: describe_conninfo(), never the password.
  const std::string& where() const { return where_; }

 private:
  enum class Outcome { kDone, kConnectionLost };
  void writer_loop();
  // Writes `rows` (removing each as it is committed or dropped), retrying across reconnects
  // until done or, when closing, until the drain deadline.
  void write_with_retry(std::vector<core::TracePtr>& rows);
  void write_reviews_with_retry(const std::vector<ReviewEntry>& reviews);
  Outcome write_batch(std::vector<core::TracePtr>& rows, bool retried);
  Outcome write_rows_one_by_one(std::vector<core::TracePtr>& rows, bool retried);
  // Inside a transaction: inserts `rows` (multi-row, ON CONFLICT DO NOTHING), adds the
  // inserted ones to rollup_, returns which were inserted (by index).
  Result<std::vector<bool>> insert_rows(const std::vector<core::TracePtr>& rows);
  Result<void> upsert_rollups();
  Result<void> insert_prompts(const std::vector<core::TracePtr>& rows,
                              const std::vector<bool>& inserted);
  Outcome write_reviews(const std::vector<ReviewEntry>& reviews);
  bool ensure_connected();
  bool lost(const Error& e) const;  // the connection, not the statement, failed
  // Sleeps for the current backoff (woken early by close()); false when the writer should
  // give up (closing and past the drain deadline).
  bool back_off();
  void on_connection_lost(const Error& e);

  const PgStoreOptions options_;
  const std::string where_;
  // Writer thread only, after construction.
  pg::Connection db_;
  RollupBatch rollup_;
  int64_t backoff_ms_ = 0;         // current backoff; 0 while connected
  int64_t outage_started_ms_ = 0;  // steady ms; 0 while connected
  int64_t last_outage_log_ms_ = 0;

  WriteQueue queue_;
  std::atomic<bool> connected_{true};
  std::atomic<int64_t> reconnects_{0};

  std::mutex close_mu_;
  std::thread writer_;
};

}  // namespace triage::telemetry

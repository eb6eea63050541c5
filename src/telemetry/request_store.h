#pragma once
// The request store: one durable row per finished request (see docs/store.md). It is a trace
// sink that never does I/O on the caller's thread: consume() only queues; a store-owned thread
// writes. Implementations: SqliteStore ("sqlite"), NullRequestStore ("none"); a shared store
// (PostgreSQL) can be added behind the same interface.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "core/trace.h"

namespace triage::telemetry {

// A finished request chosen for the review queue (see telemetry/review_sink.h).
struct ReviewEntry {
  std::string request_id;
  int64_t ts_ms = 0;                      // the request's arrival (unix ms), the queue's sort key
  std::vector<core::ReviewFlag> reasons;  // non-empty: kFlagBand, kSampleLarge, ...
};

class RequestStore : public core::TraceSink {
 public:
  // Queues the trace for writing. Thread-safe, callable from any number of I/O threads at once;
  // never blocks on I/O and never throws. When the queue is full, or after close(), the trace
  // is dropped and counted in dropped(): losing a row is never silent.
  void consume(const core::TracePtr& trace) override = 0;

  // Writes every trace queued so far, then stops the writer. Blocks until done. Idempotent and
  // thread-safe; called on shutdown (and by the destructor). consume() after close() drops.
  virtual void close() = 0;

  // Counters since construction. Thread-safe, cheap (atomic loads); read by /metrics.
  virtual int64_t dropped() const = 0;  // traces lost: queue full, after close, write errors
  virtual int64_t written() const = 0;  // rows committed
  virtual int64_t queued() const = 0;   // accepted, not yet committed

  // Versioned implementation name for logs ("sqlite/1").
  virtual std::string name() const = 0;

  // A shared store's database (PostgreSQL): whether the writer's last attempt reached it, and
  // how many times it lost it and got it back. Cheap, thread-safe; an embedded store is always
  // up.
  virtual bool database_up() const { return true; }
  virtual int64_t reconnects() const { return 0; }
  // The queue is at its bound: further traces are dropped until the writer catches up (or, for
  // a shared store, until its database is back).
  virtual bool queue_full() const { return false; }

  // Queues a review-queue entry, written by the store's writer after the request rows queued
  // before it. Same contract as consume(): thread-safe, never blocks on I/O; false (and
  // counted in dropped()) when the queue is full or closed. Default: not supported, false.
  virtual bool enqueue_review(ReviewEntry) { return false; }

  // Blocks until everything queued before the call is committed, at most `timeout_ms`; true
  // when it was. For worker threads (never an I/O thread): the feedback endpoint uses it to
  // see a request that finished a moment ago. Default: nothing is queued, true.
  virtual bool flush(int64_t /*timeout_ms*/) { return true; }
};

// store.type "none": accepts and discards everything; all counters stay 0.
class NullRequestStore final : public RequestStore {
 public:
  void consume(const core::TracePtr&) override {}
  void close() override {}
  int64_t dropped() const override { return 0; }
  int64_t written() const override { return 0; }
  int64_t queued() const override { return 0; }
  std::string name() const override { return "none/1"; }
};

// Builds the configured store: store.type "sqlite" (path resolved against the config's
// directory with cfg.resolve()), "postgres" (PgStore on store.url) or "none". Start-up only:
// throws std::runtime_error naming the path or the database (never its password) when the
// database cannot be opened, created or reached, and config::ConfigError for an unknown
// store.type.
std::unique_ptr<RequestStore> make_request_store(const config::Config& cfg);

// Whether an offline command's --store names a PostgreSQL database (postgres:// or
// postgresql://) rather than a SQLite file.
bool is_postgres_location(const std::string& location);

// The PostgreSQL password of a store config: the value of store.password_env ("" when that is
// not set: libpq then uses PGPASSWORD or ~/.pgpass). Error (kUnavailable) naming the variable
// (never a value) when it is set and the variable is not.
Result<std::string> store_password(const config::StoreConfig& store);

}  // namespace triage::telemetry

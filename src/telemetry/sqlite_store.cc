#include "telemetry/sqlite_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/background_thread.h"
#include "telemetry/sqlite_paced_vfs.h"
#include "telemetry/sqlite_schema.h"
#include "telemetry/trace_json.h"

namespace triage::telemetry {
namespace {

// One row per distinct key of a batch, merged into the existing row. NULL text columns of
// `requests` are '' here (primary-key columns cannot be NULL). Follows "INSERT INTO <table>".
constexpr const char* kUpsertRollup =
    " (minute, model, tier, route, category, cohort, requests, "
    "client_errors, server_errors, timeouts, cost_usd, tokens_in, tokens_out, upstream_us, "
    "total_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
    "ON CONFLICT (minute, model, tier, route, category, cohort) DO UPDATE SET "
    "requests = requests + excluded.requests, "
    "client_errors = client_errors + excluded.client_errors, "
    "server_errors = server_errors + excluded.server_errors, "
    "timeouts = timeouts + excluded.timeouts, cost_usd = cost_usd + excluded.cost_usd, "
    "tokens_in = tokens_in + excluded.tokens_in, tokens_out = tokens_out + excluded.tokens_out, "
    "upstream_us = upstream_us + excluded.upstream_us, total_us = total_us + excluded.total_us";

constexpr const char* kInsertReview =
    "INSERT OR IGNORE INTO review_queue (request_id, ts_ms, status, enqueued_ms, updated_ms) "
    "VALUES (?1, ?2, 'open', ?3, ?3)";
constexpr const char* kInsertReason =
    "INSERT OR IGNORE INTO review_reasons (reason, ts_ms, request_id) VALUES (?1, ?2, ?3)";
constexpr const char* kInsertPrompt =
    "INSERT OR REPLACE INTO prompts (request_id, messages, response, attempts) "
    "VALUES (?1, ?2, ?3, ?4)";

// synchronous=NORMAL: in WAL mode a commit does not fsync; a power loss can lose the last
// commits but never corrupts the file. A 32 MiB page cache and checkpoints every 8192 pages
// (32 MiB of WAL) keep index updates and checkpoint fsyncs off the per-batch path (about 2-3x
// the rows/s of the defaults); journal_size_limit trims the WAL file after a checkpoint.
constexpr const char* kPragmas =
    "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=8192; "
    "PRAGMA journal_size_limit=67108864; PRAGMA temp_store=MEMORY;";

// INSERT INTO requests (<kRequestColumns>) VALUES (?1, ..., ?35).
std::string insert_sql() {
  std::string cols, params;
  for (size_t i = 0; i < kRequestColumnCount; ++i) {
    cols += (i ? ", " : "") + std::string(kRequestColumns[i]);
    params += (i ? ", ?" : "?") + std::to_string(i + 1);
  }
  return "INSERT INTO requests (" + cols + ") VALUES (" + params + ")";
}

}  // namespace

SqliteStore::SqliteStore(SqliteStoreOptions options)
    : options_(std::move(options)),
      queue_({options_.path, options_.queue_capacity, options_.batch_size,
              options_.flush_interval_ms}) {  // throws on bad bounds, before the file opens
  open_database();  // on a throw, the members close what was opened
  writer_ = std::thread([this] { writer_loop(); });
}

SqliteStore::~SqliteStore() { close(); }

void SqliteStore::open_database() {
  const std::string& path = options_.path;
  auto fail = [&](const std::string& what) {
    std::string msg = "request store " + path + ": " + what;
    if (db_.is_open()) msg += ": " + db_.last_error();
    throw std::runtime_error(msg);
  };
  // Through the paced VFS: the writer thread ends its turn between the pages of a commit
  // (telemetry/sqlite_paced_vfs.h).
  auto opened = sqlite::Connection::open(path, sqlite::OpenMode::kCreate, 5000,
                                         sqlite::paced_vfs_name());
  if (!opened) {
    throw std::runtime_error("request store " + path +
                             ": cannot open database: " + opened.error().message);
  }
  db_ = std::move(opened.value());  // busy timeout: a reader's checkpoint or a CLI session

  // journal_mode answers with the mode in effect; anything but "wal" means it did not apply.
  std::string mode;
  {
    sqlite::Statement jm(db_, "PRAGMA journal_mode=WAL");
    if (!jm.ok()) fail("cannot set journal_mode");
    if (jm.step() == sqlite::Step::kRow) mode = jm.text(0);
  }  // finalized: a statement in progress would keep the migrations from committing
  const bool in_memory = path == ":memory:";  // for tests and throwaway runs; no WAL there
  if (mode != (in_memory ? "memory" : "wal")) {
    fail("cannot enable WAL journal (got '" + mode + "')");
  }
  if (auto r = db_.exec(kPragmas); !r) {
    throw std::runtime_error("request store " + path +
                             ": cannot set pragmas: " + r.error().message);
  }
  create_or_migrate_schema(db_, kSchemaVersion);

  auto prepare = [&](sqlite::Statement& s, const std::string& sql) {
    s = sqlite::Statement(db_, sql, /*persistent=*/true);
    if (!s.ok()) fail("cannot prepare statements");
  };
  prepare(insert_, insert_sql());
  prepare(begin_, "BEGIN");
  prepare(commit_, "COMMIT");
  prepare(insert_review_, kInsertReview);
  prepare(insert_reason_, kInsertReason);
  prepare(insert_prompt_, kInsertPrompt);
  for (size_t i = 0; i < kRollupLevels; ++i) {
    prepare(rollup_upsert_[i], std::string("INSERT INTO ") + kRollupTables[i] + kUpsertRollup);
  }
}

void SqliteStore::consume(const core::TracePtr& trace) {
  if (trace) queue_.push(trace);
}

bool SqliteStore::enqueue_review(ReviewEntry entry) {
  if (entry.request_id.empty() || entry.reasons.empty()) return false;
  return queue_.push_review(std::move(entry));
}

bool SqliteStore::flush(int64_t timeout_ms) { return queue_.flush(timeout_ms); }

void SqliteStore::close() {
  std::lock_guard close_lk(close_mu_);
  queue_.stop();
  if (writer_.joinable()) writer_.join();
}

void SqliteStore::writer_loop() {
  // Lower priority and short turns (common/background_thread.h): on a saturated core a batch
  // commit (milliseconds) must not hold the core while a request waits. The queue bound, not
  // the priority, decides what happens when the writer cannot keep up (counted drops).
  make_current_thread_background("sqlite-writer");
  // The same turns inside a COMMIT or a checkpoint: after each page SQLite writes.
  const sqlite::PacedWritesScope paced([this] { queue_.between_rows(); });
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::vector<core::TracePtr> batch;
  std::vector<ReviewEntry> reviews;
  while (queue_.take(batch, reviews)) {
    for (size_t i = 0; i < batch.size(); i += batch_size) {
      write_batch(batch, i, std::min(batch.size(), i + batch_size));
    }
    // After the request rows, so that a review entry never precedes its request's row.
    if (!reviews.empty()) write_reviews(reviews);
    batch.clear();
    reviews.clear();
    queue_.committed();
  }
}

void SqliteStore::write_reviews(const std::vector<ReviewEntry>& reviews) {
  const int64_t now_ms = unix_time_ms();
  (void)db_.exec("BEGIN");
  int64_t failed = 0;
  for (const ReviewEntry& e : reviews) {
    sqlite::Statement& q = insert_review_;
    bool ok = q.bind_static(1, e.request_id).bind(2, e.ts_ms).bind(3, now_ms).run();
    q.reset();
    for (const core::ReviewFlag reason : e.reasons) {
      sqlite::Statement& r = insert_reason_;
      // A flag's wire name has static storage.
      ok = r.bind_static(1, core::flag_name(reason))
               .bind(2, e.ts_ms)
               .bind_static(3, e.request_id)
               .run() &&
           ok;
      r.reset();
    }
    if (!ok) {
      ++failed;
      spdlog::error("request store {}: review entry {} not written: {}", options_.path,
                    e.request_id, db_.last_error());
    }
  }
  if (!db_.exec("COMMIT")) {
    spdlog::error("request store {}: review COMMIT failed: {}", options_.path, db_.last_error());
    (void)db_.exec("ROLLBACK");
    failed = static_cast<int64_t>(reviews.size());
  }
  if (failed > 0) queue_.count_drop(failed, "review write error");
}

void SqliteStore::write_batch(std::vector<core::TracePtr>& batch, size_t begin, size_t end) {
  const int64_t n = static_cast<int64_t>(end - begin);
  const bool begun = begin_.run();
  begin_.reset();
  if (!begun) {
    spdlog::error("request store {}: BEGIN failed: {}", options_.path, db_.last_error());
    queue_.count_drop(n, "write error");
    queue_.settle(0, n);
    return;
  }
  int64_t ok = 0;
  rollup_.clear();
  for (size_t i = begin; i < end; ++i) {
    queue_.between_rows();
    if (bind_and_step(*batch[i])) {
      ++ok;
      rollup_.add(*batch[i]);
    } else {
      spdlog::error("request store {}: row {} not written: {}", options_.path, batch[i]->request_id,
                    db_.last_error());
      queue_.count_drop(1, "write error");
    }
    // Freed here, between paced rows: a lagging writer takes thousands of traces at once, and
    // freeing them together after the commit held a shared core for milliseconds unpaced.
    // Nothing reads the trace after its row (the rollup keeps copies; failures are not retried).
    batch[i].reset();
  }
  // The rollup commits with its rows or not at all: a failed upsert abandons the batch.
  const bool rolled_up = write_rollup();
  const bool committed = rolled_up && commit_.run();
  commit_.reset();
  if (!committed) {
    spdlog::error("request store {}: {} failed: {}", options_.path,
                  rolled_up ? "COMMIT" : "rollup upsert", db_.last_error());
    (void)db_.exec("ROLLBACK");
    queue_.count_drop(ok, "write error");
    ok = 0;
  }
  queue_.settle(ok, n - ok);
}

bool SqliteStore::write_rollup() {
  for (size_t i = 0; i < kRollupLevels; ++i) {
    sqlite::Statement& u = rollup_upsert_[i];
    for (const auto& [k, r] : rollup_.level(i)) {
      u.bind(1, k.minute)
          .bind_static(2, k.model)
          .bind_static(3, k.tier)
          .bind_static(4, k.route)
          .bind_static(5, k.category)
          .bind_static(6, k.cohort)
          .bind(7, r.requests)
          .bind(8, r.client_errors)
          .bind(9, r.server_errors)
          .bind(10, r.timeouts)
          .bind(11, r.cost_usd)
          .bind(12, r.tokens_in)
          .bind(13, r.tokens_out)
          .bind(14, r.upstream_us)
          .bind(15, r.total_us);
      const bool ok = u.run();
      u.reset();
      if (!ok) return false;
    }
  }
  return true;
}

bool SqliteStore::bind_and_step(const core::Trace& t) {
  sqlite::Statement& s = insert_;
  make_request_row(t, row_);  // its text must outlive the step (static bindings)
  for (size_t i = 0; i < kRequestColumnCount; ++i) {
    const int col = static_cast<int>(i + 1);
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::monostate>) {
            s.bind_null(col);
          } else if constexpr (std::is_same_v<V, std::string_view>) {
            s.bind_static(col, v);
          } else {
            s.bind(col, v);
          }
        },
        row_.values[i]);
  }
  const bool ok = s.run();
  s.reset();
  if (!ok) return false;
  if (t.keep_payloads && !t.prompt_json.empty()) write_prompt(t);
  return true;
}

void SqliteStore::write_prompt(const core::Trace& t) {
  const std::string attempts = prompt_attempts_json(t);
  sqlite::Statement& p = insert_prompt_;
  p.bind_static(1, t.request_id).bind_static(2, t.prompt_json);
  p.bind_static_or_null(3, t.response_text).bind_static(4, attempts);
  if (!p.run()) {
    // The request row stands; only its payload is missing (the review page says so).
    spdlog::error("request store {}: payload of {} not written: {}", options_.path, t.request_id,
                  db_.last_error());
  }
  p.reset();
}

}  // namespace triage::telemetry

#include "telemetry/sqlite_store.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>

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

constexpr const char* kInsert =
    "INSERT INTO requests (request_id, ts_ms, api_key_id, cohort, category, user_id, "
    "requested_model, route, model, tier, provider, stream, tokens_in, tokens_out, "
    "tokens_estimated, cost_usd, routing_us, queue_us, upstream_ttfb_us, upstream_us, "
    "overhead_us, total_us, status, error_code, error_message, finish_reason, synthesized, "
    "label, confidence, flags, spans) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, "
    "?31)";

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

// Empty optional text is stored as NULL so that SQL can count and filter it naturally.
// SQLITE_STATIC: the caller keeps the string alive until the statement has been stepped.
void bind_text(sqlite3_stmt* s, int i, const std::string& v, bool null_if_empty = true) {
  if (v.empty() && null_if_empty) {
    sqlite3_bind_null(s, i);
  } else {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
}

}  // namespace

SqliteStore::SqliteStore(SqliteStoreOptions options) : options_(std::move(options)) {
  if (options_.queue_capacity < 1 || options_.batch_size < 1 || options_.flush_interval_ms < 0) {
    throw std::runtime_error("request store " + options_.path +
                             ": queue_capacity and batch_size must be >= 1, "
                             "flush_interval_ms >= 0");
  }
  try {
    open_database();
  } catch (...) {
    finalize_statements();
    sqlite3_close(db_);
    throw;
  }
  pending_.reserve(static_cast<size_t>(std::min<int64_t>(options_.batch_size, 1 << 16)));
  writer_ = std::thread([this] { writer_loop(); });
}

SqliteStore::~SqliteStore() {
  close();
  finalize_statements();
  sqlite3_close(db_);
}

void SqliteStore::finalize_statements() {
  for (sqlite3_stmt* s : {insert_, begin_, commit_, insert_review_, insert_reason_, insert_prompt_})
    sqlite3_finalize(s);
  insert_ = begin_ = commit_ = insert_review_ = insert_reason_ = insert_prompt_ = nullptr;
  for (RollupLevel& level : rollup_) {
    sqlite3_finalize(level.upsert);
    level.upsert = nullptr;
  }
}

void SqliteStore::open_database() {
  const std::string& path = options_.path;
  auto fail = [&](const std::string& what) {
    std::string msg = "request store " + path + ": " + what;
    if (db_ != nullptr) msg += ": " + std::string(sqlite3_errmsg(db_));
    throw std::runtime_error(msg);
  };
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    fail("cannot open database");
  }
  sqlite3_busy_timeout(db_, 5000);  // a reader's checkpoint or a CLI session may hold a lock

  // journal_mode answers with the mode in effect; anything but "wal" means it did not apply.
  sqlite3_stmt* jm = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &jm, nullptr) != SQLITE_OK) {
    fail("cannot set journal_mode");
  }
  std::string mode;
  if (sqlite3_step(jm) == SQLITE_ROW) {
    const unsigned char* m = sqlite3_column_text(jm, 0);
    if (m != nullptr) mode = reinterpret_cast<const char*>(m);
  }
  sqlite3_finalize(jm);
  const bool in_memory = path == ":memory:";  // for tests and throwaway runs; no WAL there
  if (mode != (in_memory ? "memory" : "wal")) {
    fail("cannot enable WAL journal (got '" + mode + "')");
  }

  char* err = nullptr;
  if (sqlite3_exec(db_, kPragmas, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string what = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("request store " + path + ": cannot set pragmas: " + what);
  }
  create_or_migrate_schema(db_, path, kSchemaVersion);

  if (sqlite3_prepare_v3(db_, kInsert, -1, SQLITE_PREPARE_PERSISTENT, &insert_, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v3(db_, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &begin_, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v3(db_, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &commit_, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v3(db_, kInsertReview, -1, SQLITE_PREPARE_PERSISTENT, &insert_review_,
                         nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(db_, kInsertReason, -1, SQLITE_PREPARE_PERSISTENT, &insert_reason_,
                         nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(db_, kInsertPrompt, -1, SQLITE_PREPARE_PERSISTENT, &insert_prompt_,
                         nullptr) != SQLITE_OK) {
    fail("cannot prepare statements");
  }
  for (size_t i = 0; i < kRollupLevels; ++i) {
    const std::string sql = std::string("INSERT INTO ") + kRollupTables[i] + kUpsertRollup;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &rollup_[i].upsert,
                           nullptr) != SQLITE_OK) {
      fail("cannot prepare statements");
    }
  }
}

void SqliteStore::consume(const core::TracePtr& trace) {
  if (!trace) return;
  // Reserve a slot first so that the bound covers rows being written, not only pending ones.
  if (queued_.fetch_add(1, std::memory_order_relaxed) >= options_.queue_capacity) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    count_drop(1, "queue full");
    return;
  }
  bool accepted = false;
  bool notify = false;
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      accepted = true;
      pending_.push_back(trace);
      ++enqueued_seq_;
      const size_t n = pending_.size();
      const bool first = n == 1 && pending_reviews_.empty();
      if (first) oldest_pending_ = SteadyClock::now();
      // The writer needs waking only to start a flush timer or for a full batch.
      notify = writer_waiting_ && (first || n == static_cast<size_t>(options_.batch_size));
      if (notify) writer_waiting_ = false;
    }
  }
  if (!accepted) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    count_drop(1, "store closed");
    return;
  }
  if (notify) cv_.notify_one();
}

bool SqliteStore::enqueue_review(ReviewEntry entry) {
  if (entry.request_id.empty() || entry.reasons.empty()) return false;
  bool accepted = false;
  bool notify = false;
  {
    std::lock_guard lk(mu_);
    if (!stopping_ &&
        static_cast<int64_t>(pending_reviews_.size()) < options_.queue_capacity) {
      accepted = true;
      pending_reviews_.push_back(std::move(entry));
      ++enqueued_seq_;
      if (pending_reviews_.size() == 1 && pending_.empty()) {
        oldest_pending_ = SteadyClock::now();
        notify = writer_waiting_;
        if (notify) writer_waiting_ = false;
      }
    }
  }
  if (!accepted) {
    count_drop(1, "review entry: queue full or store closed");
    return false;
  }
  if (notify) cv_.notify_one();
  return true;
}

bool SqliteStore::flush(int64_t timeout_ms) {
  std::unique_lock lk(mu_);
  const uint64_t target = enqueued_seq_;
  if (committed_seq_ >= target) return true;
  ++flush_waiters_;
  writer_waiting_ = false;
  cv_.notify_one();
  const bool done = flushed_cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                                         [&] { return committed_seq_ >= target; });
  --flush_waiters_;
  return done;
}

void SqliteStore::count_drop(int64_t n, const char* why) {
  const int64_t total = dropped_.fetch_add(n, std::memory_order_relaxed) + n;
  const int64_t now = steady_ms();
  int64_t last = last_drop_log_ms_.load(std::memory_order_relaxed);
  if (now - last >= 1000 &&
      last_drop_log_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    spdlog::warn("request store {}: dropped {} trace(s) ({}); {} dropped in total", options_.path,
                 n, why, total);
  }
}

void SqliteStore::hold() {
  std::lock_guard lk(mu_);
  held_ = true;
}

void SqliteStore::release() {
  {
    std::lock_guard lk(mu_);
    held_ = false;
  }
  cv_.notify_one();
}

void SqliteStore::close() {
  std::lock_guard close_lk(close_mu_);
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    held_ = false;
  }
  cv_.notify_one();
  if (writer_.joinable()) writer_.join();
}

void SqliteStore::writer_loop() {
  // Lower priority than the I/O threads: on a saturated core a batch commit (milliseconds)
  // should yield to requests rather than sit in their tail latency. The queue bound, not the
  // priority, decides what happens when the writer cannot keep up (counted drops).
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
  const auto interval = std::chrono::milliseconds(options_.flush_interval_ms);
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::vector<core::TracePtr> batch;
  std::vector<ReviewEntry> reviews;
  batch.reserve(pending_.capacity());
  for (;;) {
    uint64_t batch_seq = 0;
    {
      std::unique_lock lk(mu_);
      for (;;) {
        const bool has_work = !pending_.empty() || !pending_reviews_.empty();
        if (!held_ && has_work &&
            (stopping_ || flush_waiters_ > 0 || pending_.size() >= batch_size ||
             SteadyClock::now() >= oldest_pending_ + interval)) {
          break;
        }
        if (stopping_ && !has_work) return;
        writer_waiting_ = true;
        if (held_ || !has_work) {
          cv_.wait(lk);
        } else {
          cv_.wait_until(lk, oldest_pending_ + interval);
        }
        writer_waiting_ = false;
      }
      batch.swap(pending_);  // pending_ takes the (empty) spare buffer
      reviews.swap(pending_reviews_);
      batch_seq = enqueued_seq_;
    }
    for (size_t i = 0; i < batch.size(); i += batch_size) {
      write_batch(batch, i, std::min(batch.size(), i + batch_size));
    }
    // After the request rows, so that a review entry never precedes its request's row.
    if (!reviews.empty()) write_reviews(reviews);
    batch.clear();
    reviews.clear();
    {
      std::lock_guard lk(mu_);
      committed_seq_ = batch_seq;
    }
    flushed_cv_.notify_all();
  }
}

void SqliteStore::write_reviews(const std::vector<ReviewEntry>& reviews) {
  const int64_t now_ms = unix_time_ms();
  sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
  int64_t failed = 0;
  for (const ReviewEntry& e : reviews) {
    bool ok = true;
    sqlite3_stmt* q = insert_review_;
    bind_text(q, 1, e.request_id, false);
    sqlite3_bind_int64(q, 2, e.ts_ms);
    sqlite3_bind_int64(q, 3, now_ms);
    ok = sqlite3_step(q) == SQLITE_DONE;
    sqlite3_reset(q);
    for (const core::ReviewFlag reason : e.reasons) {
      sqlite3_stmt* r = insert_reason_;
      const std::string_view name = core::flag_name(reason);  // static: SQLITE_STATIC is safe
      sqlite3_bind_text(r, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
      sqlite3_bind_int64(r, 2, e.ts_ms);
      bind_text(r, 3, e.request_id, false);
      ok = sqlite3_step(r) == SQLITE_DONE && ok;
      sqlite3_reset(r);
    }
    if (!ok) {
      ++failed;
      spdlog::error("request store {}: review entry {} not written: {}", options_.path,
                    e.request_id, sqlite3_errmsg(db_));
    }
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    spdlog::error("request store {}: review COMMIT failed: {}", options_.path, sqlite3_errmsg(db_));
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    failed = static_cast<int64_t>(reviews.size());
  }
  if (failed > 0) count_drop(failed, "review write error");
}

void SqliteStore::write_batch(const std::vector<core::TracePtr>& batch, size_t begin, size_t end) {
  const int64_t n = static_cast<int64_t>(end - begin);
  const int rc = sqlite3_step(begin_);
  sqlite3_reset(begin_);
  if (rc != SQLITE_DONE) {
    spdlog::error("request store {}: BEGIN failed: {}", options_.path, sqlite3_errmsg(db_));
    queued_.fetch_sub(n, std::memory_order_relaxed);
    count_drop(n, "write error");
    return;
  }
  int64_t ok = 0;
  for (RollupLevel& level : rollup_) level.sums.clear();
  for (size_t i = begin; i < end; ++i) {
    if (bind_and_step(*batch[i])) {
      ++ok;
      add_to_rollup(*batch[i]);
    } else {
      spdlog::error("request store {}: row {} not written: {}", options_.path, batch[i]->request_id,
                    sqlite3_errmsg(db_));
      count_drop(1, "write error");
    }
  }
  // The rollup commits with its rows or not at all: a failed upsert abandons the batch.
  const bool rolled_up = write_rollup();
  const int crc = rolled_up ? sqlite3_step(commit_) : SQLITE_ERROR;
  sqlite3_reset(commit_);
  if (crc != SQLITE_DONE) {
    spdlog::error("request store {}: {} failed: {}", options_.path,
                  rolled_up ? "COMMIT" : "rollup upsert", sqlite3_errmsg(db_));
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    count_drop(ok, "write error");
    ok = 0;
  }
  written_.fetch_add(ok, std::memory_order_relaxed);
  queued_.fetch_sub(n, std::memory_order_relaxed);
}

void SqliteStore::add_to_rollup(const core::Trace& t) {
  const int64_t minute = t.time_ms / 60000;
  const RollupKey keys[kRollupLevels] = {
      {minute, t.model, t.tier, t.route, t.category, t.cohort},
      {t.time_ms / 3600000 * 60, t.model, t.tier, t.route, t.category, t.cohort},
      {minute, t.model, {}, {}, {}, {}}};
  for (size_t i = 0; i < kRollupLevels; ++i) {
    RollupSums& r = rollup_[i].sums[keys[i]];
    r.requests += 1;
    r.client_errors += t.http_status >= 400 && t.http_status <= 499 ? 1 : 0;
    r.server_errors += t.http_status >= 500 ? 1 : 0;
    r.timeouts += t.error_code == "upstream_timeout" ? 1 : 0;
    r.cost_usd += t.cost_usd;
    r.tokens_in += t.tokens_in;
    r.tokens_out += t.tokens_out;
    r.upstream_us += t.upstream_us;
    r.total_us += t.total_us;
  }
}

bool SqliteStore::write_rollup() {
  for (const RollupLevel& level : rollup_) {
    sqlite3_stmt* u = level.upsert;
    for (const auto& [k, r] : level.sums) {
      sqlite3_bind_int64(u, 1, k.minute);
      bind_text(u, 2, k.model, false);
      bind_text(u, 3, k.tier, false);
      bind_text(u, 4, k.route, false);
      bind_text(u, 5, k.category, false);
      bind_text(u, 6, k.cohort, false);
      sqlite3_bind_int64(u, 7, r.requests);
      sqlite3_bind_int64(u, 8, r.client_errors);
      sqlite3_bind_int64(u, 9, r.server_errors);
      sqlite3_bind_int64(u, 10, r.timeouts);
      sqlite3_bind_double(u, 11, r.cost_usd);
      sqlite3_bind_int64(u, 12, r.tokens_in);
      sqlite3_bind_int64(u, 13, r.tokens_out);
      sqlite3_bind_int64(u, 14, r.upstream_us);
      sqlite3_bind_int64(u, 15, r.total_us);
      const int rc = sqlite3_step(u);
      sqlite3_reset(u);
      if (rc != SQLITE_DONE) return false;
    }
  }
  return true;
}

bool SqliteStore::bind_and_step(const core::Trace& t) {
  sqlite3_stmt* s = insert_;
  // Both JSON strings must outlive sqlite3_step (SQLITE_STATIC bindings).
  const std::string flags = flags_json(t.flags);
  const std::string spans = spans_json(t.spans);
  bind_text(s, 1, t.request_id, false);
  sqlite3_bind_int64(s, 2, t.time_ms);
  bind_text(s, 3, t.api_key_id);
  bind_text(s, 4, t.cohort);
  bind_text(s, 5, t.category);
  bind_text(s, 6, t.user);
  bind_text(s, 7, t.requested_model);
  bind_text(s, 8, t.route);
  bind_text(s, 9, t.model);
  bind_text(s, 10, t.tier);
  bind_text(s, 11, t.provider);
  sqlite3_bind_int(s, 12, t.stream ? 1 : 0);
  sqlite3_bind_int64(s, 13, t.tokens_in);
  sqlite3_bind_int64(s, 14, t.tokens_out);
  sqlite3_bind_int(s, 15, t.tokens_estimated ? 1 : 0);
  sqlite3_bind_double(s, 16, t.cost_usd);
  sqlite3_bind_int64(s, 17, t.routing_us);
  sqlite3_bind_int64(s, 18, t.queue_us);
  sqlite3_bind_int64(s, 19, t.upstream_ttfb_us);
  sqlite3_bind_int64(s, 20, t.upstream_us);
  sqlite3_bind_int64(s, 21, t.overhead_us);
  sqlite3_bind_int64(s, 22, t.total_us);
  sqlite3_bind_int(s, 23, t.http_status);
  bind_text(s, 24, t.error_code);
  bind_text(s, 25, t.error_message);
  bind_text(s, 26, t.finish_reason);
  sqlite3_bind_int(s, 27, t.synthesized ? 1 : 0);
  bind_text(s, 28, t.label);
  if (t.label.empty()) {
    sqlite3_bind_null(s, 29);
  } else {
    sqlite3_bind_double(s, 29, t.confidence);
  }
  bind_text(s, 30, flags, false);
  bind_text(s, 31, spans, false);
  const int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return false;
  if (t.keep_payloads && !t.prompt_json.empty()) write_prompt(t);
  return true;
}

void SqliteStore::write_prompt(const core::Trace& t) {
  std::string attempts = "[";
  for (const core::Span& span : t.spans) {
    if (span.kind != core::SpanKind::kModelCall) continue;
    if (attempts.size() > 1) attempts += ',';
    attempts += "{\"model\":";
    append_json_string(attempts, span.name);
    attempts += ",\"tier\":";
    append_json_string(attempts, span.tier);
    attempts += span.ok ? ",\"ok\":true,\"output\":" : ",\"ok\":false,\"output\":";
    append_json_string(attempts, span.output);
    attempts += '}';
  }
  attempts += ']';
  sqlite3_stmt* p = insert_prompt_;
  bind_text(p, 1, t.request_id, false);
  bind_text(p, 2, t.prompt_json, false);
  bind_text(p, 3, t.response_text);
  bind_text(p, 4, attempts, false);
  if (sqlite3_step(p) != SQLITE_DONE) {
    // The request row stands; only its payload is missing (the review page says so).
    spdlog::error("request store {}: payload of {} not written: {}", options_.path, t.request_id,
                  sqlite3_errmsg(db_));
  }
  sqlite3_reset(p);
}

}  // namespace triage::telemetry

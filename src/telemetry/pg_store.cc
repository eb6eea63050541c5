#include "telemetry/pg_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>

#include "common/background_thread.h"
#include "telemetry/pg_schema.h"

namespace triage::telemetry {
namespace {

// Rows per INSERT statement: 35 parameters each, well under PostgreSQL's 65535 per statement.
constexpr size_t kRowsPerInsert = 256;
// While the database is away, at most one warning per this interval.
constexpr int64_t kOutageLogIntervalMs = 10000;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

// "($1, $2, ...), ($36, ...)": `rows` groups of `cols` placeholders from $1.
std::string placeholders(size_t rows, size_t cols) {
  std::string out;
  size_t n = 1;
  for (size_t r = 0; r < rows; ++r) {
    out += r ? ", (" : "(";
    for (size_t c = 0; c < cols; ++c) out += (c ? ", $" : "$") + std::to_string(n++);
    out += ')';
  }
  return out;
}

std::string insert_requests_sql(size_t rows) {
  std::string cols;
  for (size_t i = 0; i < kRequestColumnCount; ++i) {
    cols += (i ? ", " : "") + std::string(kRequestColumns[i]);
  }
  return "INSERT INTO requests (" + cols + ") VALUES " + placeholders(rows, kRequestColumnCount) +
         " ON CONFLICT (request_id) DO NOTHING RETURNING request_id";
}

// One row per distinct key, added to the existing row. Keys are sorted (std::map), so
// replicas upserting the same keys lock them in the same order (no deadlock).
std::string upsert_rollup_sql(const char* table, size_t rows) {
  std::string cols = "minute, model, tier, route, category, cohort";
  std::string set;
  for (const char* c : kRollupSumColumns) {
    cols += std::string(", ") + c;
    set +=
        (set.empty() ? "" : ", ") + std::string(c) + " = " + table + "." + c + " + excluded." + c;
  }
  return std::string("INSERT INTO ") + table + " (" + cols + ") VALUES " +
         placeholders(rows, 6 + std::size(kRollupSumColumns)) +
         " ON CONFLICT (minute, model, tier, route, category, cohort) DO UPDATE SET " + set;
}

void add_row(pg::Params& p, const RequestRow& row) {
  for (const RowValue& v : row.values) {
    std::visit(
        [&](const auto& x) {
          using V = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<V, std::monostate>) {
            p.add_null();
          } else {
            p.add(x);
          }
        },
        v);
  }
}

}  // namespace

PgStore::PgStore(PgStoreOptions options)
    : options_(std::move(options)),
      where_(pg::describe_conninfo(options_.conninfo)),
      queue_({where_, options_.queue_capacity, options_.batch_size,
              options_.flush_interval_ms}) {  // throws on bad bounds, before connecting
  auto opened = pg::Connection::open(options_.conninfo, options_.password);
  if (!opened) throw std::runtime_error("request store " + opened.error().message);
  db_ = std::move(opened.value());
  if (auto r = create_or_migrate_pg_schema(db_, where_); !r) {
    throw std::runtime_error(r.error().message);
  }
  writer_ = std::thread([this] { writer_loop(); });
}

PgStore::~PgStore() { close(); }

void PgStore::consume(const core::TracePtr& trace) {
  if (!trace) return;
  queue_.push(trace, connected() ? "queue full" : "queue full, database unreachable");
}

bool PgStore::enqueue_review(ReviewEntry entry) {
  if (entry.request_id.empty() || entry.reasons.empty()) return false;
  return queue_.push_review(std::move(entry));
}

bool PgStore::flush(int64_t timeout_ms) { return queue_.flush(timeout_ms); }

void PgStore::close() {
  std::lock_guard close_lk(close_mu_);
  queue_.stop(options_.drain_timeout_ms);
  if (writer_.joinable()) writer_.join();
}

void PgStore::writer_loop() {
  // Lower priority and short turns, as SqliteStore's writer (common/background_thread.h).
  make_current_thread_background("pg-writer");
  const size_t batch_size = static_cast<size_t>(options_.batch_size);
  std::vector<core::TracePtr> batch, chunk;
  std::vector<ReviewEntry> reviews;
  while (queue_.take(batch, reviews)) {
    for (size_t i = 0; i < batch.size(); i += batch_size) {
      chunk.assign(
          batch.begin() + static_cast<std::ptrdiff_t>(i),
          batch.begin() + static_cast<std::ptrdiff_t>(std::min(batch.size(), i + batch_size)));
      write_with_retry(chunk);
    }
    // After the request rows, so that a review entry never precedes its request's row.
    if (!reviews.empty()) write_reviews_with_retry(reviews);
    batch.clear();
    reviews.clear();
    queue_.committed();
  }
}

bool PgStore::lost(const Error& e) const {
  if (!db_.healthy()) return true;
  // connection_exception (08...), operator_intervention (57P01..: shutdown, crash recovery).
  return e.internal.rfind("08", 0) == 0 || e.internal.rfind("57P", 0) == 0;
}

bool PgStore::ensure_connected() {
  if (db_.healthy()) return true;
  bool up = false;
  if (db_.is_open()) {
    up = db_.reset();
  } else if (auto c = pg::Connection::open(options_.conninfo, options_.password); c) {
    db_ = std::move(c.value());
    up = true;
  }
  if (!up) return false;
  if (outage_started_ms_ != 0) {
    spdlog::info("request store {}: database reachable again after {} ms; {} trace(s) queued",
                 where_, steady_ms() - outage_started_ms_, queued());
    reconnects_.fetch_add(1, std::memory_order_relaxed);
  }
  outage_started_ms_ = 0;
  backoff_ms_ = 0;
  connected_.store(true, std::memory_order_relaxed);
  return true;
}

void PgStore::on_connection_lost(const Error& e) {
  connected_.store(false, std::memory_order_relaxed);
  const int64_t now = steady_ms();
  if (outage_started_ms_ == 0) {
    outage_started_ms_ = now;
    last_outage_log_ms_ = now;
    spdlog::warn(
        "request store {}: database unreachable ({}); keeping up to {} trace(s) queued and "
        "reconnecting",
        where_, e.message.empty() ? db_.last_error() : e.message, options_.queue_capacity);
  } else if (now - last_outage_log_ms_ >= kOutageLogIntervalMs) {
    last_outage_log_ms_ = now;
    spdlog::warn("request store {}: database unreachable for {} s; {} trace(s) queued, {} dropped",
                 where_, (now - outage_started_ms_) / 1000, queued(), dropped());
  }
}

bool PgStore::back_off() {
  backoff_ms_ = backoff_ms_ == 0 ? options_.reconnect_min_ms
                                 : std::min(backoff_ms_ * 2, options_.reconnect_max_ms);
  return queue_.sleep_until(SteadyClock::now() + std::chrono::milliseconds(backoff_ms_));
}

void PgStore::write_with_retry(std::vector<core::TracePtr>& rows) {
  bool retried = false;  // an earlier attempt may have committed (its COMMIT's answer was lost)
  while (!rows.empty()) {
    if (ensure_connected() && write_batch(rows, retried) == Outcome::kDone) return;
    if (!rows.empty()) retried = true;
    on_connection_lost(make_error(ErrorCode::kUnavailable, db_.last_error()));
    if (!back_off()) {
      const auto n = static_cast<int64_t>(rows.size());
      spdlog::error("request store {}: closing with the database unreachable; {} row(s) lost",
                    where_, n);
      queue_.count_drop(n, "database unreachable at shutdown");
      queue_.settle(0, n);
      rows.clear();
    }
  }
}

Result<std::vector<bool>> PgStore::insert_rows(const std::vector<core::TracePtr>& rows) {
  std::vector<bool> inserted(rows.size(), false);
  RequestRow row;
  pg::Params params;
  for (size_t begin = 0; begin < rows.size(); begin += kRowsPerInsert) {
    const size_t end = std::min(rows.size(), begin + kRowsPerInsert);
    params.clear();
    std::unordered_multimap<std::string_view, size_t> index;
    for (size_t i = begin; i < end; ++i) {
      queue_.between_rows();
      make_request_row(*rows[i], row);
      add_row(params, row);
      index.emplace(rows[i]->request_id, i);
    }
    auto r = db_.exec(insert_requests_sql(end - begin), params);
    if (!r) return r.error();
    for (int k = 0; k < r->rows(); ++k) {
      // The first not-yet-marked row with that id (a batch may hold an id twice).
      const std::string id = r->text(k, 0);
      auto [lo, hi] = index.equal_range(id);
      size_t best = rows.size();
      for (auto it = lo; it != hi; ++it) {
        if (!inserted[it->second]) best = std::min(best, it->second);
      }
      if (best < rows.size()) {
        inserted[best] = true;
        rollup_.add(*rows[best]);
      }
    }
  }
  return inserted;
}

Result<void> PgStore::upsert_rollups() {
  constexpr size_t kCols = 6 + std::size(kRollupSumColumns);
  constexpr size_t kKeysPerUpsert = 65535 / kCols;
  pg::Params params;
  for (size_t level = 0; level < kRollupLevels; ++level) {
    const auto& sums = rollup_.level(level);
    auto it = sums.begin();
    while (it != sums.end()) {
      params.clear();
      size_t n = 0;
      for (; it != sums.end() && n < kKeysPerUpsert; ++it, ++n) {
        const auto& [k, s] = *it;
        params.add(k.minute).add(k.model).add(k.tier).add(k.route).add(k.category).add(k.cohort);
        params.add(s.requests).add(s.client_errors).add(s.server_errors).add(s.timeouts);
        params.add(s.cost_usd).add(s.tokens_in).add(s.tokens_out).add(s.upstream_us);
        params.add(s.total_us);
      }
      auto r = db_.exec(upsert_rollup_sql(kRollupTables[level], n), params);
      if (!r) return r.error();
    }
  }
  return {};
}

Result<void> PgStore::insert_prompts(const std::vector<core::TracePtr>& rows,
                                     const std::vector<bool>& inserted) {
  pg::Params params;
  size_t n = 0;
  auto run = [&]() -> Result<void> {
    if (n == 0) return {};
    auto r = db_.exec("INSERT INTO prompts (request_id, messages, response, attempts) VALUES " +
                          placeholders(n, 4) +
                          " ON CONFLICT (request_id) DO UPDATE SET messages = excluded.messages, "
                          "response = excluded.response, attempts = excluded.attempts",
                      params);
    params.clear();
    n = 0;
    if (!r) return r.error();
    return {};
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const core::Trace& t = *rows[i];
    if (!inserted[i] || !t.keep_payloads || t.prompt_json.empty()) continue;
    params.add(t.request_id).add(t.prompt_json).add_or_null(t.response_text);
    params.add(prompt_attempts_json(t));
    if (++n == kRowsPerInsert) {
      if (auto r = run(); !r) return r;
    }
  }
  return run();
}

PgStore::Outcome PgStore::write_batch(std::vector<core::TracePtr>& rows, bool retried) {
  rollup_.clear();
  std::vector<bool> inserted;
  Error failure;
  bool failed = false;
  {
    pg::Transaction txn(db_);
    if (!txn.ok()) return Outcome::kConnectionLost;
    auto ins = insert_rows(rows);
    Result<void> step;
    if (!ins) {
      step = ins.error();
    } else {
      inserted = std::move(ins.value());
      step = upsert_rollups();
      if (step) step = insert_prompts(rows, inserted);
      if (step) step = txn.commit();
    }
    if (!step) {
      failed = true;
      failure = step.error();
    }
  }  // rolled back unless committed
  if (failed) {
    if (lost(failure)) return Outcome::kConnectionLost;
    // A value PostgreSQL refuses (say, invalid UTF-8 in a header) fails the whole statement:
    // find the culprit row by row, so that only it is lost.
    spdlog::warn("request store {}: batch of {} failed ({}); writing it row by row", where_,
                 rows.size(), failure.message);
    return write_rows_one_by_one(rows, retried);
  }
  int64_t ok = 0, conflicts = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (inserted[i]) {
      ++ok;
    } else if (!retried) {
      ++conflicts;
      spdlog::error("request store {}: row {} not written: duplicate request_id", where_,
                    rows[i]->request_id);
    } else {
      ++ok;  // committed by the attempt whose COMMIT answer was lost
    }
  }
  if (conflicts > 0) queue_.count_drop(conflicts, "write error");
  queue_.settle(ok, conflicts);
  rows.clear();
  return Outcome::kDone;
}

PgStore::Outcome PgStore::write_rows_one_by_one(std::vector<core::TracePtr>& rows, bool retried) {
  size_t i = 0;
  Outcome outcome = Outcome::kDone;
  for (; i < rows.size(); ++i) {
    rollup_.clear();
    const std::vector<core::TracePtr> one = {rows[i]};
    Result<void> step;
    std::vector<bool> inserted;
    {
      pg::Transaction txn(db_);
      if (!txn.ok()) {
        outcome = Outcome::kConnectionLost;
        break;
      }
      auto ins = insert_rows(one);
      if (!ins) {
        step = ins.error();
      } else {
        inserted = std::move(ins.value());
        step = upsert_rollups();
        if (step) step = insert_prompts(one, inserted);
        if (step) step = txn.commit();
      }
    }
    if (!step && lost(step.error())) {
      outcome = Outcome::kConnectionLost;
      break;
    }
    if (step && (inserted[0] || retried)) {
      queue_.settle(1, 0);
      continue;
    }
    spdlog::error("request store {}: row {} not written: {}", where_, rows[i]->request_id,
                  step ? "duplicate request_id" : step.error().message);
    queue_.count_drop(1, "write error");
    queue_.settle(0, 1);
  }
  rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(i));
  return outcome;
}

PgStore::Outcome PgStore::write_reviews(const std::vector<ReviewEntry>& reviews) {
  const int64_t now_ms = unix_time_ms();
  pg::Transaction txn(db_);
  if (!txn.ok()) return Outcome::kConnectionLost;
  int64_t failed = 0;
  for (const ReviewEntry& e : reviews) {
    auto q = db_.exec(
        "INSERT INTO review_queue (request_id, ts_ms, status, enqueued_ms, updated_ms) "
        "VALUES ($1, $2, 'open', $3, $3) ON CONFLICT (request_id) DO NOTHING",
        pg::Params().add(e.request_id).add(e.ts_ms).add(now_ms));
    if (!q && lost(q.error())) return Outcome::kConnectionLost;
    bool ok = q.ok();
    for (const core::ReviewFlag reason : e.reasons) {
      if (!ok) break;
      auto r = db_.exec(
          "INSERT INTO review_reasons (reason, ts_ms, request_id) VALUES ($1, $2, $3) "
          "ON CONFLICT DO NOTHING",
          pg::Params().add(core::flag_name(reason)).add(e.ts_ms).add(e.request_id));
      if (!r && lost(r.error())) return Outcome::kConnectionLost;
      ok = r.ok();
    }
    if (!ok) {
      // A failed statement aborts the transaction: the whole group is lost (counted).
      spdlog::error("request store {}: review entry {} not written: {}", where_, e.request_id,
                    db_.last_error());
      failed = static_cast<int64_t>(reviews.size());
      break;
    }
  }
  if (failed == 0) {
    if (auto c = txn.commit(); !c) {
      if (lost(c.error())) return Outcome::kConnectionLost;
      failed = static_cast<int64_t>(reviews.size());
    }
  }
  if (failed > 0) queue_.count_drop(failed, "review write error");
  return Outcome::kDone;
}

void PgStore::write_reviews_with_retry(const std::vector<ReviewEntry>& reviews) {
  // The inserts ignore conflicts, so a retry after a lost COMMIT answer is harmless.
  for (;;) {
    if (ensure_connected() && write_reviews(reviews) == Outcome::kDone) return;
    on_connection_lost(make_error(ErrorCode::kUnavailable, db_.last_error()));
    if (!back_off()) {
      queue_.count_drop(static_cast<int64_t>(reviews.size()), "database unreachable at shutdown");
      return;
    }
  }
}

}  // namespace triage::telemetry

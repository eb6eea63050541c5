#pragma once
// The request store's backends for tests written against the store interfaces (RequestStore,
// StoreReader): each such test runs once per backend (TEST_P over Backend), so SQLite and
// PostgreSQL are held to the same assertions. PostgreSQL runs on the process's throwaway server
// (tests/pg/pg_server.h), one fresh database per test; it skips only when the server binaries
// are absent.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "pg_server.h"
#include "support/temp_dir.h"
#include "telemetry/pg_db.h"
#include "telemetry/pg_store.h"
#include "telemetry/sqlite_db.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry::testing {

enum class Backend { kSqlite, kPostgres };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

// In SetUp(): skips a PostgreSQL instance when the server binaries are absent.
#define TRIAGE_SKIP_UNLESS_BACKEND(b)                              \
  do {                                                             \
    if ((b) == ::triage::telemetry::testing::Backend::kPostgres) { \
      TRIAGE_PG_SERVER_OR_SKIP();                                  \
    }                                                              \
  } while (0)

// A fresh, empty store of one backend: a SQLite file in a temporary directory, or a new
// database on the test server. The location is what `--store` takes.
class BackendStore {
 public:
  explicit BackendStore(Backend b) : backend_(b) {
    if (b == Backend::kSqlite) {
      dir_.emplace();
      location_ = dir_->file("triage.db");
    } else {
      auto& server = triage::testing::shared_pg_server();
      location_ = server.url(server.create_database());
    }
  }
  BackendStore(const BackendStore&) = delete;
  BackendStore& operator=(const BackendStore&) = delete;

  Backend backend() const { return backend_; }
  const std::string& location() const { return location_; }

  // The store's writer (creates the schema on first open).
  std::unique_ptr<RequestStore> open_writer(int64_t capacity = 100000, int64_t batch = 64,
                                            int64_t flush_ms = 3600000) const {
    if (backend_ == Backend::kSqlite) {
      return std::make_unique<SqliteStore>(
          SqliteStoreOptions{location_, capacity, batch, flush_ms});
    }
    PgStoreOptions o;
    o.conninfo = location_;
    o.queue_capacity = capacity;
    o.batch_size = batch;
    o.flush_interval_ms = flush_ms;
    return std::make_unique<PgStore>(std::move(o));
  }
  // The writer's test hook: while held, it commits nothing.
  static void hold(RequestStore& s, bool on) {
    if (auto* q = dynamic_cast<SqliteStore*>(&s)) on ? q->hold() : q->release();
    if (auto* p = dynamic_cast<PgStore*>(&s)) on ? p->hold() : p->release();
  }

  // A reader, as the offline commands open one (open_store_reader(location)).
  std::unique_ptr<StoreReader> open_reader(const StoreReaderOptions& o = {}) const {
    auto r = open_store_reader(location_, o);
    if (!r) ADD_FAILURE() << r.error().message;
    return r ? std::move(r.value()) : nullptr;
  }

  // One number from plain SQL that means the same in both dialects; -1 on an error.
  int64_t count(const std::string& sql) const {
    if (backend_ == Backend::kSqlite) {
      auto db = sqlite::Connection::open(location_, sqlite::OpenMode::kReadOnly);
      if (!db) return -1;
      sqlite::Statement s(db.value(), sql);
      if (!s.ok()) ADD_FAILURE() << sql << ": " << db.value().last_error();
      return s.ok() && s.step() == sqlite::Step::kRow ? s.i64(0) : -1;
    }
    auto db = pg::Connection::open(location_);
    if (!db) return -1;
    auto r = db.value().exec(sql);
    if (!r) ADD_FAILURE() << sql << ": " << r.error().message;
    return r && r->rows() > 0 ? r->i64(0, 0) : -1;
  }
  // Runs SQL that means the same in both dialects.
  void exec(const std::string& sql) const {
    if (backend_ == Backend::kSqlite) {
      auto db = sqlite::Connection::open(location_, sqlite::OpenMode::kReadWrite);
      ASSERT_TRUE(db);
      auto r = db.value().exec(sql);
      EXPECT_TRUE(r) << sql << ": " << r.error().message;
      return;
    }
    auto db = pg::Connection::open(location_);
    ASSERT_TRUE(db) << db.error().message;
    auto r = db.value().exec_script(sql);
    EXPECT_TRUE(r) << sql << ": " << r.error().message;
  }

 private:
  Backend backend_;
  std::optional<triage::testing::TempDir> dir_;  // sqlite only
  std::string location_;
};

// A parameterised test over both backends on a store whose schema exists: the shared set-up
// of the tests of one store interface (LeaseDb, RolloutDb, WindowSliceDb, ...).
class SchemaStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    TRIAGE_SKIP_UNLESS_BACKEND(GetParam());
    backend_ = std::make_unique<BackendStore>(GetParam());
    backend_->open_writer()->close();  // creates the schema
  }
  // A reader as a replica opens one: its own connection, writes allowed unless `writes` is off.
  std::unique_ptr<StoreReader> open(bool writes = true) {
    StoreReaderOptions o;
    o.review_writes = writes;
    return backend_->open_reader(o);
  }
  std::unique_ptr<BackendStore> backend_;
};

}  // namespace triage::telemetry::testing

// Runs SUITE (a SchemaStoreTest or BackendStore fixture) on SQLite and PostgreSQL.
#define TRIAGE_ON_EVERY_BACKEND(SUITE)                                                \
  INSTANTIATE_TEST_SUITE_P(Backends, SUITE,                                        \
                           ::testing::Values(::triage::telemetry::testing::Backend::kSqlite, \
                                             ::triage::telemetry::testing::Backend::kPostgres), \
                           ::triage::telemetry::testing::backend_name)

#include "telemetry/request_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "pg_server.h"
#include "telemetry/pg_store.h"
#include "support/temp_dir.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {
namespace {

namespace fs = std::filesystem;

TEST(MakeRequestStore, SqliteResolvesThePathAgainstTheConfigDir) {
  const triage::testing::TempDir dir;
  const std::string& tmpl = dir.path();
  config::Config cfg;
  cfg.path = tmpl + "/triage.yaml";
  cfg.dir = tmpl;
  cfg.store.type = "sqlite";
  cfg.store.path = "logs.db";
  {
    auto store = make_request_store(cfg);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->name(), "sqlite/3");
    auto* sqlite = dynamic_cast<SqliteStore*>(store.get());
    ASSERT_NE(sqlite, nullptr);
    EXPECT_EQ(sqlite->path(), tmpl + "/logs.db");
    store->close();
  }
  EXPECT_TRUE(fs::exists(tmpl + "/logs.db"));
}

TEST(MakeRequestStore, InMemory) {
  config::Config cfg;
  cfg.dir = "/nonexistent";
  cfg.store.path = ":memory:";
  auto store = make_request_store(cfg);
  store->consume(std::make_shared<const core::Trace>());
  store->close();
  EXPECT_EQ(store->written(), 1);
}

TEST(MakeRequestStore, NoneDiscards) {
  config::Config cfg;
  cfg.store.type = "none";
  auto store = make_request_store(cfg);
  store->consume(std::make_shared<const core::Trace>());
  store->close();
  EXPECT_EQ(store->name(), "none/1");
  EXPECT_EQ(store->written(), 0);
  EXPECT_EQ(store->dropped(), 0);
}

TEST(MakeRequestStore, UnknownTypeIsAConfigError) {
  config::Config cfg;
  cfg.store.type = "mysql";
  EXPECT_THROW(make_request_store(cfg), config::ConfigError);
}

TEST(MakeRequestStore, PostgresOnTheConfiguredDatabase) {
  TRIAGE_PG_SERVER_OR_SKIP();
  auto& server = triage::testing::shared_pg_server();
  config::Config cfg;
  cfg.store.type = "postgres";
  cfg.store.url = server.url(server.create_database());
  auto store = make_request_store(cfg);
  ASSERT_NE(dynamic_cast<PgStore*>(store.get()), nullptr);
  EXPECT_EQ(store->name(), "postgres/1");
  store->consume(std::make_shared<const core::Trace>());
  store->close();
  EXPECT_EQ(store->written(), 1);
  // The gateway's APIs read the same database back.
  auto reader = open_store_reader(cfg, {}, "the dashboard API");
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ((*reader)->name(), "postgres/1");
  EXPECT_EQ((*reader)->tier_totals()->at(0).requests, 1);
}

TEST(MakeRequestStore, PostgresPasswordComesFromItsVariable) {
  config::Config cfg;
  cfg.store.type = "postgres";
  cfg.store.url = "postgres://triage@127.0.0.1:1/triage";
  cfg.store.password_env = "TRIAGE_TEST_PG_PASSWORD_UNSET";
  ::unsetenv("TRIAGE_TEST_PG_PASSWORD_UNSET");
  try {
    make_request_store(cfg);
    FAIL() << "started without its password";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("TRIAGE_TEST_PG_PASSWORD_UNSET is not set"),
              std::string::npos)
        << e.what();
  }
  ::setenv("TRIAGE_TEST_PG_PASSWORD_UNSET", "hunter2", 1);
  auto password = store_password(cfg.store);
  ASSERT_TRUE(password);
  EXPECT_EQ(*password, "hunter2");
  try {  // nothing listens on port 1: the error names the database, never the password
    make_request_store(cfg);
    FAIL() << "connected to nothing";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("postgresql://triage@127.0.0.1:1/triage"),
              std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
  ::unsetenv("TRIAGE_TEST_PG_PASSWORD_UNSET");
}

}  // namespace
}  // namespace triage::telemetry

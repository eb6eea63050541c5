#include "telemetry/request_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>

#include "telemetry/sqlite_store.h"

namespace triage::telemetry {
namespace {

namespace fs = std::filesystem;

TEST(MakeRequestStore, SqliteResolvesThePathAgainstTheConfigDir) {
  std::string tmpl = (fs::temp_directory_path() / "triage-factory-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
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
  fs::remove_all(tmpl);
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
  cfg.store.type = "postgres";
  EXPECT_THROW(make_request_store(cfg), config::ConfigError);
}

}  // namespace
}  // namespace triage::telemetry

// Hot reload's restart-only rule: a change to what the process built once (the listener, the
// store, the admin credential, OTLP export, review rules) is refused naming the field; what
// each config version rebuilds (models, routes, prices, the request deadline) is not.
#include "server/config_versions.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "config/config.h"
#include "engine/built_config.h"
#include "server/access_control.h"
#include "telemetry/metrics.h"
#include "telemetry/request_store.h"

namespace triage::server {
namespace {

config::Config parse(const std::string& extra) {
  return config::parse_config(
      extra + "models:\n  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n",
      "t.yaml");
}

TEST(RestartOnlyChange, NamesTheFieldAndBothValues) {
  const config::Config running = parse("server: {port: 8080, threads: 2}\n");
  EXPECT_EQ(restart_only_change(running, running), std::nullopt);
  EXPECT_EQ(restart_only_change(running, parse("server: {port: 9090, threads: 2}\n")),
            "server.port: cannot change on reload (8080 -> 9090); restart the gateway to change "
            "it");
  EXPECT_EQ(restart_only_change(running, parse("server: {port: 8080, threads: 4}\n")).value_or(""),
            "server.threads: cannot change on reload (2 -> 4); restart the gateway to change it");
  EXPECT_NE(restart_only_change(running, parse("server: {port: 8080, threads: 2}\n"
                                               "store: {path: other.db}\n"))
                .value_or("")
                .find("store.path: cannot change on reload"),
            std::string::npos);
  EXPECT_NE(restart_only_change(running, parse("server: {port: 8080, threads: 2}\nauth: {}\n"))
                .value_or("")
                .find("auth: cannot change on reload (false -> true)"),
            std::string::npos);
}

TEST(RestartOnlyChange, WhatAVersionRebuildsMayChange) {
  const config::Config running = parse("server: {port: 8080, request_timeout_ms: 1000}\n");
  const config::Config next = config::parse_config(
      "server: {port: 8080, request_timeout_ms: 5000}\n"
      "models:\n"
      "  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:10/v1\", prices: {input: 3}}\n"
      "  - {name: n, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n"
      "routes:\n  - {name: r, type: model, model: n}\n",
      "t.yaml");
  EXPECT_EQ(restart_only_change(running, next), std::nullopt);
}

// Replicas sharing one store (store.config_poll_ms > 0): a version applied on one is adopted
// by the other under the same seq, without a second history row; a joining replica serves
// the fleet's version rather than its older file; one that does not build is refused once.
class SharedStoreReplicas : public ::testing::Test {
 protected:
  struct Replica {
    Replica(const std::string& yaml, telemetry::Metrics& metrics) {
      std::unique_ptr<engine::BuiltConfig> built = engine::build_config(yaml, "t.yaml", no_env);
      store = telemetry::make_request_store(built->cfg);  // creates the schema
      access = std::make_unique<AccessControl>(built->cfg, no_env);
      versions = std::make_unique<ConfigVersions>(std::move(built), engine::ConfigAdjust{},
                                                  no_env, metrics, *access);
    }
    ~Replica() { store->close(); }
    std::unique_ptr<telemetry::RequestStore> store;
    std::unique_ptr<AccessControl> access;
    std::unique_ptr<ConfigVersions> versions;
  };
  static const char* no_env(const char*) { return nullptr; }

  SharedStoreReplicas()
      : dir_(std::filesystem::temp_directory_path() /
             ("triage_follow_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~SharedStoreReplicas() override { std::filesystem::remove_all(dir_); }

  std::string yaml(const std::string& endpoint_port) const {
    return "store: {type: sqlite, path: " + (dir_ / "shared.db").string() +
           ", config_poll_ms: 50}\n"
           "models:\n  - {name: m, provider: openai, endpoint: \"http://127.0.0.1:" +
           endpoint_port + "/v1\"}\n";
  }
  std::string endpoint(const Replica& r) const {
    return r.versions->current()->cfg().models.at(0).endpoint;
  }

  std::filesystem::path dir_;
  telemetry::Metrics metrics_a_, metrics_b_, metrics_c_;
};

TEST_F(SharedStoreReplicas, AVersionAppliedOnOneIsAdoptedByTheOthers) {
  Replica a(yaml("9"), metrics_a_);
  Replica b(yaml("9"), metrics_b_);
  EXPECT_EQ(a.versions->current()->version.seq, 1);
  EXPECT_EQ(b.versions->current()->version.seq, 1) << "the same file: the same version";
  auto nothing = b.versions->follow_store();
  ASSERT_TRUE(nothing);
  EXPECT_FALSE(nothing.value().has_value());

  ASSERT_TRUE(a.versions->apply(yaml("10"), "t.yaml", "admin:alice", "new endpoint"));
  auto adopted = b.versions->follow_store();
  ASSERT_TRUE(adopted) << adopted.error().message;
  ASSERT_TRUE(adopted.value().has_value());
  EXPECT_EQ(adopted.value()->seq, 2);
  EXPECT_EQ(b.versions->current()->version.seq, 2);
  EXPECT_EQ(b.versions->current()->version.sha256, a.versions->current()->version.sha256);
  EXPECT_EQ(endpoint(b), "http://127.0.0.1:10/v1");
  EXPECT_EQ(b.versions->history(false)->size(), 2u) << "adopting records nothing";

  // B applies next: it takes the next free seq, and A adopts it.
  ASSERT_EQ(b.versions->apply(yaml("11"), "t.yaml", "admin", "from b")->seq, 3);
  ASSERT_TRUE(a.versions->follow_store());
  EXPECT_EQ(a.versions->current()->version.seq, 3);
  EXPECT_EQ(endpoint(a), "http://127.0.0.1:11/v1");

  // A replica that joins with the old file serves the fleet's version.
  Replica c(yaml("9"), metrics_c_);
  EXPECT_EQ(c.versions->current()->version.seq, 3);
  EXPECT_EQ(endpoint(c), "http://127.0.0.1:11/v1");
  EXPECT_EQ(c.versions->history(false)->size(), 3u);
}

TEST_F(SharedStoreReplicas, AVersionThatDoesNotBuildHereIsRefusedOnceAndTheOldOneServes) {
  Replica a(yaml("9"), metrics_a_);
  Replica b(yaml("9"), metrics_b_);
  // A route naming a scorer file only A's directory has (here: nobody's) cannot build on B;
  // A applies it by writing the history row itself, as a replica with the file would.
  std::string broken = yaml("9") +
                       "routes:\n  - {name: r, type: threshold, scorer: missing.bin, weak: m, "
                       "strong: m}\n";
  ASSERT_FALSE(a.versions->apply(broken, "t.yaml", "admin", "x")) << "A cannot build it either";
  auto reader = telemetry::open_store_reader((dir_ / "shared.db").string(),
                                             telemetry::StoreReaderOptions{true, false});
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader.value()->insert_config_version(
      {2, "sha-of-broken", 1, "admin", "from a replica that has the file", broken}));
  auto refused = b.versions->follow_store();
  EXPECT_FALSE(refused);
  EXPECT_EQ(b.versions->current()->version.seq, 1);
  auto again = b.versions->follow_store();
  ASSERT_TRUE(again) << "not tried again";
  EXPECT_FALSE(again.value().has_value());
}

}  // namespace
}  // namespace triage::server

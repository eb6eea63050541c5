// Knobs across replicas (docs/scaling.md): a move made through one replica's KnobMoves reaches
// another replica sharing the store (SQLite file and PostgreSQL), is not recorded twice, and a
// move of another config version is ignored; a replica that joins applies the version's moves
// so far. And only the leader acts: a follower's rollouts neither move weights nor take
// commands (409 naming the leader), and pick up the leader's saved state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "common/ids.h"
#include "config/config.h"
#include "engine/built_config.h"
#include "pg_server.h"
#include "routes/split_route.h"
#include "server/access_control.h"
#include "server/config_versions.h"
#include "server/knob_moves.h"
#include "server/leadership.h"
#include "server/rollouts.h"
#include "telemetry/metrics.h"
#include "telemetry/request_store.h"

namespace triage::server {
namespace {

const char* no_env(const char*) { return nullptr; }

enum class Backend { kSqlite, kPostgres };

// A store that names `holder` as the holder of every lease.
class FixedLease final : public telemetry::LeaseDb {
 public:
  explicit FixedLease(std::string holder) : holder_(std::move(holder)) {}
  Result<std::string> acquire_or_renew(const std::string&, const std::string&, int64_t,
                                       int64_t) override {
    return holder_;
  }
  Result<void> release(const std::string&, const std::string&) override { return {}; }

 private:
  std::string holder_;
};

class KnobFollow : public ::testing::TestWithParam<Backend> {
 protected:
  struct Replica {
    Replica(const std::string& name, const std::string& yaml, telemetry::Metrics& metrics) {
      std::unique_ptr<engine::BuiltConfig> built = engine::build_config(yaml, "t.yaml", no_env);
      store = telemetry::make_request_store(built->cfg);  // creates the schema
      access = std::make_unique<AccessControl>(built->cfg, no_env);
      versions = std::make_unique<ConfigVersions>(std::move(built), engine::ConfigAdjust{},
                                                  no_env, metrics, *access);
      moves = std::make_unique<KnobMoves>(*versions, metrics, name);
    }
    ~Replica() { store->close(); }
    double weight(size_t child) const {
      auto serving = versions->current();
      return dynamic_cast<routes::SplitRoute&>(*serving->routes().find("chat")).weight(child);
    }
    std::unique_ptr<telemetry::RequestStore> store;
    std::unique_ptr<AccessControl> access;
    std::unique_ptr<ConfigVersions> versions;
    std::unique_ptr<KnobMoves> moves;
  };

  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      TRIAGE_PG_SERVER_OR_SKIP();
      auto& server = triage::testing::shared_pg_server();
      store_yaml_ = "store: {type: postgres, url: \"" + server.url(server.create_database()) +
                    "\", config_poll_ms: 50}\n";
    } else {
      dir_ = std::filesystem::temp_directory_path() /
             ("triage_knobs_" + std::to_string(::getpid()));
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
      store_yaml_ = "store: {type: sqlite, path: " + (dir_ / "shared.db").string() +
                    ", config_poll_ms: 50}\n";
    }
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string yaml(int b_weight = 0) const {
    return store_yaml_ +
           "models:\n"
           "  - {name: a, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n"
           "  - {name: b, provider: openai, endpoint: \"http://127.0.0.1:9/v1\"}\n"
           "routes:\n"
           "  - name: chat\n"
           "    type: split\n"
           "    children: [{route: a, weight: 100}, {route: b, weight: " +
           std::to_string(b_weight) + "}]\n";
  }
  size_t events(Replica& r) { return r.versions->knob_events(100).value().size(); }

  std::filesystem::path dir_;
  std::string store_yaml_;
  telemetry::Metrics metrics_a_, metrics_b_, metrics_c_;
};

INSTANTIATE_TEST_SUITE_P(Backends, KnobFollow,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
                         });

TEST_P(KnobFollow, AMoveOnOneReplicaReachesTheOtherOnceRecorded) {
  Replica a("A", yaml(), metrics_a_);
  Replica b("B", yaml(), metrics_b_);
  ASSERT_EQ(a.versions->current()->version.seq, b.versions->current()->version.seq);
  ASSERT_TRUE(a.moves->move({"chat", "children[1].weight", 30, "admin", "try b"}));
  EXPECT_EQ(a.weight(1), 30);
  EXPECT_EQ(b.weight(1), 0) << "not before B follows";
  auto applied = b.moves->follow_store();
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(applied.value(), 1);
  EXPECT_EQ(b.weight(1), 30);
  EXPECT_EQ(events(b), 1u) << "following records nothing";
  const auto last = b.moves->last_move(b.versions->current()->version.seq, "chat",
                                       "children[1].weight");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->who, "admin");
  EXPECT_EQ(last->replica, "A");
  // Nothing new: nothing applied, and A's own moves are not applied back to it.
  EXPECT_EQ(b.moves->follow_store().value(), 0);
  EXPECT_EQ(a.moves->follow_store().value(), 0);
}

TEST_P(KnobFollow, TheLastMovePerKnobWinsAndAJoiningReplicaAppliesThemAll) {
  Replica a("A", yaml(), metrics_a_);
  ASSERT_TRUE(a.moves->move({"chat", "children[1].weight", 10, "admin", ""}));
  ASSERT_TRUE(a.moves->move({"chat", "children[1].weight", 20, "controller:x", ""}));
  ASSERT_TRUE(a.moves->move({"chat", "children[0].weight", 90, "admin", ""}));
  Replica c("C", yaml(), metrics_c_);  // joins afterwards
  EXPECT_EQ(c.weight(1), 0) << "the file's value until it follows";
  EXPECT_EQ(c.moves->follow_store().value(), 2);
  EXPECT_EQ(c.weight(1), 20);
  EXPECT_EQ(c.weight(0), 90);
  EXPECT_EQ(events(c), 3u);
}

TEST_P(KnobFollow, MovesOfAnotherVersionAreIgnoredAndANewVersionStartsFromTheFile) {
  Replica a("A", yaml(), metrics_a_);
  Replica b("B", yaml(), metrics_b_);
  ASSERT_TRUE(a.moves->move({"chat", "children[1].weight", 30, "admin", ""}));
  ASSERT_TRUE(b.moves->follow_store());
  ASSERT_EQ(b.weight(1), 30);
  // B applies version 2 (b's weight 5 in the file); A's next move is on version 1 still.
  ASSERT_TRUE(b.versions->apply(yaml(5), "t.yaml", "admin", "v2"));
  ASSERT_TRUE(a.moves->move({"chat", "children[1].weight", 40, "admin", "old version"}));
  EXPECT_EQ(b.moves->follow_store().value(), 0);
  EXPECT_EQ(b.weight(1), 5) << "version 2 serves its file's value; version 1's move is ignored";
  // A adopts version 2, whose knobs start at the file's values; a move there reaches B.
  ASSERT_TRUE(a.versions->follow_store());
  EXPECT_EQ(a.moves->follow_store().value(), 0);
  EXPECT_EQ(a.weight(1), 5);
  ASSERT_TRUE(a.moves->move({"chat", "children[1].weight", 50, "admin", "v2 move"}));
  EXPECT_EQ(b.moves->follow_store().value(), 1);
  EXPECT_EQ(b.weight(1), 50);
}

TEST_P(KnobFollow, AnObserveModeRecordIsNotApplied) {
  Replica a("A", yaml(), metrics_a_);
  Replica b("B", yaml(), metrics_b_);
  ASSERT_TRUE(a.moves->move({"chat", "children[1].weight", 10, "admin", ""}));
  ASSERT_TRUE(a.moves->record_only({"chat", "children[1].weight", 60, "controller:x (observe)",
                                    ""},
                                   10));
  EXPECT_EQ(b.moves->follow_store().value(), 1);
  EXPECT_EQ(b.weight(1), 10) << "the observe record moved nothing on A, nor on B";
  EXPECT_EQ(events(b), 2u);
}

TEST_P(KnobFollow, AFollowersRolloutsNeitherMoveNorTakeCommands) {
  const std::string with_rollout = yaml() +
                                   "    rollout: {candidate: b, steps: [10, 100], hold_s: 1,\n"
                                   "              min_requests: 1000, gates: {max_success_drop: 0.1}}\n";
  Replica a("A", with_rollout, metrics_a_);
  Replica b("B", with_rollout, metrics_b_);
  Leadership leader(nullptr, "A", 0, metrics_a_);
  Leadership follower(std::make_unique<FixedLease>("A"), "B", 3000, metrics_b_);
  follower.renew();
  ASSERT_FALSE(follower.is_leader());
  Rollouts ra(a.versions->current()->cfg(), *a.versions, *a.moves, metrics_a_);
  Rollouts rb(b.versions->current()->cfg(), *b.versions, *b.moves, metrics_b_);
  ra.set_leadership(&leader);
  rb.set_leadership(&follower);
  const int64_t t0 = 1'700'000'000'000;
  rb.tick(t0);
  EXPECT_EQ(b.weight(1), 0) << "a follower does not start the rollout";
  ra.tick(t0);  // the leader starts it: 10%
  EXPECT_EQ(a.weight(1), 10);
  ASSERT_TRUE(b.moves->follow_store());
  EXPECT_EQ(b.weight(1), 10) << "the leader's weights reach the follower";
  rb.tick(t0 + 10);
  const auto view = rb.list(t0 + 10);
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view[0].status.state, control::RolloutState::kRunning) << "the leader's saved state";
  auto refused = rb.command("chat", RolloutCommand::kPause, t0 + 20, "admin");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().param, Rollouts::kNotLeaderParam);
  EXPECT_NE(refused.error().message.find("replica A"), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(ra.command("chat", RolloutCommand::kPause, t0 + 20, "admin"));
}

}  // namespace
}  // namespace triage::server

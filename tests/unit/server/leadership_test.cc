// Leadership (server/leadership.h) with an injected clock over a real SQLite store: one leader
// at a time, renewal keeps it, a leader whose store does not answer stops leading at once, the
// lease passes on release (at once) and on expiry (after the ttl); outside a fleet every
// replica leads and nothing is written.
#include "server/leadership.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>

#include "telemetry/sqlite_store.h"
#include "telemetry/store_reader.h"

namespace triage::server {
namespace {

// A replica's view of the shared store, which a test can take away.
class FlakyLease final : public telemetry::LeaseDb {
 public:
  explicit FlakyLease(std::unique_ptr<telemetry::StoreReader> db) : db_(std::move(db)) {}
  Result<std::string> acquire_or_renew(const std::string& name, const std::string& holder,
                                       int64_t ttl_ms, int64_t now_ms) override {
    if (down->load()) return make_error(ErrorCode::kUnavailable, "store unreachable");
    return db_->acquire_or_renew(name, holder, ttl_ms, now_ms);
  }
  Result<void> release(const std::string& name, const std::string& holder) override {
    if (down->load()) return make_error(ErrorCode::kUnavailable, "store unreachable");
    return db_->release(name, holder);
  }
  std::shared_ptr<std::atomic<bool>> down = std::make_shared<std::atomic<bool>>(false);

 private:
  std::unique_ptr<telemetry::StoreReader> db_;
};

constexpr int64_t kTtl = 3000;

class LeadershipTest : public ::testing::Test {
 protected:
  LeadershipTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("triage_leader_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    telemetry::SqliteStore(telemetry::SqliteStoreOptions{(dir_ / "shared.db").string()}).close();  // creates the schema
  }
  ~LeadershipTest() override { std::filesystem::remove_all(dir_); }

  struct Replica {
    std::unique_ptr<Leadership> leadership;
    std::shared_ptr<std::atomic<bool>> down;
  };
  Replica replica(const std::string& name, telemetry::Metrics& metrics) {
    auto reader = telemetry::open_store_reader((dir_ / "shared.db").string(),
                                               telemetry::StoreReaderOptions{true, false});
    EXPECT_TRUE(reader);
    auto lease = std::make_unique<FlakyLease>(std::move(reader).value());
    auto down = lease->down;
    return {std::make_unique<Leadership>(std::move(lease), name, kTtl, metrics,
                                         [this] { return now_.load(); }),
            down};
  }
  static double gauge(telemetry::Metrics& m, const std::string& replica) {
    const std::string text = m.render();
    const std::string key = "triage_leader{replica=\"" + replica + "\"} ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1 : std::stod(text.substr(at + key.size()));
  }

  std::filesystem::path dir_;
  std::atomic<int64_t> now_{1'000'000};
  telemetry::Metrics metrics_a_, metrics_b_;
};

TEST_F(LeadershipTest, OneLeaderAndRenewalKeepsIt) {
  Replica a = replica("A", metrics_a_);
  Replica b = replica("B", metrics_b_);
  EXPECT_FALSE(a.leadership->is_leader()) << "no round yet";
  a.leadership->renew();
  b.leadership->renew();
  EXPECT_TRUE(a.leadership->is_leader());
  EXPECT_FALSE(b.leadership->is_leader());
  EXPECT_EQ(b.leadership->leader(), "A");
  EXPECT_EQ(gauge(metrics_a_, "A"), 1);
  EXPECT_EQ(gauge(metrics_b_, "B"), 0);
  for (int i = 0; i < 6; ++i) {  // renewed every ttl/3: A stays, B never gets it
    now_ += kTtl / 3;
    a.leadership->renew();
    b.leadership->renew();
    ASSERT_TRUE(a.leadership->is_leader()) << i;
    ASSERT_FALSE(b.leadership->is_leader()) << i;
  }
}

TEST_F(LeadershipTest, ALeaderWhoseStoreDoesNotAnswerStopsAtOnce) {
  Replica a = replica("A", metrics_a_);
  Replica b = replica("B", metrics_b_);
  a.leadership->renew();
  ASSERT_TRUE(a.leadership->is_leader());
  a.down->store(true);
  now_ += kTtl / 3;
  a.leadership->renew();
  EXPECT_FALSE(a.leadership->is_leader()) << "a failed renewal ends leading";
  EXPECT_EQ(a.leadership->leader(), "");
  EXPECT_EQ(gauge(metrics_a_, "A"), 0);
  b.leadership->renew();
  EXPECT_FALSE(b.leadership->is_leader()) << "A's lease has not expired yet";
  now_ += kTtl;
  b.leadership->renew();
  EXPECT_TRUE(b.leadership->is_leader()) << "expired: B takes over";
  a.down->store(false);
  a.leadership->renew();
  EXPECT_FALSE(a.leadership->is_leader());
  EXPECT_EQ(a.leadership->leader(), "B");
}

TEST_F(LeadershipTest, WithoutARenewalTheLeaderStopsBeforeTheLeaseExpires) {
  Replica a = replica("A", metrics_a_);
  a.leadership->renew();
  ASSERT_TRUE(a.leadership->is_leader());
  now_ += kTtl - kTtl / 5;  // the renewal thread stalled: no round ran
  EXPECT_FALSE(a.leadership->is_leader());
}

TEST_F(LeadershipTest, ReleaseHandsOverAtOnceAndExpiryAfterTheTtl) {
  Replica a = replica("A", metrics_a_);
  Replica b = replica("B", metrics_b_);
  a.leadership->renew();
  b.leadership->renew();
  ASSERT_TRUE(a.leadership->is_leader());
  a.leadership->stop();  // clean shutdown
  EXPECT_FALSE(a.leadership->is_leader());
  b.leadership->renew();
  EXPECT_TRUE(b.leadership->is_leader()) << "released: taken at the next round";

  // B dies without releasing (no stop): C waits for the ttl.
  telemetry::Metrics metrics_c;
  Replica c = replica("C", metrics_c);
  c.leadership->renew();
  EXPECT_FALSE(c.leadership->is_leader());
  now_ += kTtl - 1;
  c.leadership->renew();
  EXPECT_FALSE(c.leadership->is_leader());
  now_ += 1;
  c.leadership->renew();
  EXPECT_TRUE(c.leadership->is_leader());
  EXPECT_EQ(b.leadership->is_leader(), false) << "B's own clock ended it too";
  b.down->store(true);  // B's destructor cannot release: no harm, C holds it
}

TEST(Leadership, OutsideAFleetEveryReplicaLeads) {
  telemetry::Metrics metrics;
  Leadership alone(nullptr, "solo", 0, metrics);
  alone.start();
  EXPECT_TRUE(alone.is_leader());
  EXPECT_FALSE(alone.fleet());
  EXPECT_EQ(alone.leader(), "solo");
  EXPECT_EQ(metrics.render().find("triage_leader{"), std::string::npos) << "nothing published";
  alone.stop();
  EXPECT_TRUE(alone.is_leader());
}

}  // namespace
}  // namespace triage::server

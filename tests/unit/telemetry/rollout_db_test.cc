// RolloutDb over every backend (telemetry/rollout_db.h): a rollout's state saved and replaced by route,
// its events listed oldest first (the latest N), and a store without the tables reads empty.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

#include "support/store_backends.h"
#include "telemetry/sqlite_store.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {
namespace {

// Every backend keeps the same state (store_backends.h).
class RolloutDbTest : public testing::SchemaStoreTest {};

TRIAGE_ON_EVERY_BACKEND(RolloutDbTest);

TEST_P(RolloutDbTest, StateIsReplacedByRouteAndSurvivesReopening) {
  {
    auto db = open();
    ASSERT_TRUE(db);
    EXPECT_TRUE(db->list_rollouts().value().empty());
    ASSERT_TRUE(db->save_rollout({"chat", "fp1", "running", 0, 100, 100, 0, 0, 0, 0}));
    ASSERT_TRUE(db->save_rollout({"chat", "fp1", "running", 2, 500, 600, 40, 0.99, 180, 0.002}));
    ASSERT_TRUE(db->save_rollout({"other", "fp2", "paused", 1, 7, 8, 0, 0, 0, 0}));
  }
  auto db = open();
  ASSERT_TRUE(db);
  const auto rows = db->list_rollouts().value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].route, "chat");
  EXPECT_EQ(rows[0].step, 2);
  EXPECT_EQ(rows[0].step_started_ms, 500);
  EXPECT_EQ(rows[0].baseline_requests, 40);
  EXPECT_DOUBLE_EQ(rows[0].baseline_p95_ms, 180);
  EXPECT_EQ(rows[1].state, "paused");
}

TEST_P(RolloutDbTest, EventsAreTheLatestNOfTheRouteOldestFirst) {
  auto db = open();
  ASSERT_TRUE(db);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(db->insert_rollout_event(
        {i, "chat", "advanced", "running", i, 10.0 * i, "step " + std::to_string(i), 1}));
  }
  ASSERT_TRUE(db->insert_rollout_event({9, "other", "started", "running", 0, 1, "x", 1}));
  const auto events = db->list_rollout_events("chat", 3).value();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].reason, "step 2");
  EXPECT_EQ(events[2].reason, "step 4");
  EXPECT_DOUBLE_EQ(events[2].percent, 40);
}

TEST_P(RolloutDbTest, WritesNeedAWritableReader) {
  StoreReaderOptions o;  // read-only
  auto r = open_store_reader(backend_->location(), o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r.value()->save_rollout({"chat", "fp", "running", 0, 0, 0, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace triage::telemetry

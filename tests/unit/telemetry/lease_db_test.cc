// LeaseDb over every backend (telemetry/lease_db.h): one holder at a time, renewal keeps the
// lease, expiry hands it over, release frees it, a live lease is never stolen; and the knob
// events' replica and id (schema version 11) that the knob follower reads.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/store_backends.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {
namespace {

class LeaseDbTest : public testing::SchemaStoreTest {};

TRIAGE_ON_EVERY_BACKEND(LeaseDbTest);

constexpr int64_t kTtl = 1000;

TEST_P(LeaseDbTest, TwoHoldersOneLease) {
  auto a = open();
  auto b = open();  // a second replica: its own connection
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->acquire_or_renew("controller", "A", kTtl, 10'000).value(), "A");
  EXPECT_EQ(b->acquire_or_renew("controller", "B", kTtl, 10'100).value(), "A");
  EXPECT_EQ(b->acquire_or_renew("other", "B", kTtl, 10'100).value(), "B");  // names are separate
  EXPECT_EQ(backend_->count("SELECT COUNT(*) FROM leases"), 2);
}

TEST_P(LeaseDbTest, RenewalKeepsTheLeaseAndItsStart) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->acquire_or_renew("controller", "A", kTtl, 10'000).value(), "A");
  // Renewed before each expiry: B never gets it, though the first ttl is long past.
  for (int64_t t = 10'500; t <= 13'000; t += 500) {
    ASSERT_EQ(a->acquire_or_renew("controller", "A", kTtl, t).value(), "A") << t;
    ASSERT_EQ(b->acquire_or_renew("controller", "B", kTtl, t + 1).value(), "A") << t;
  }
  EXPECT_EQ(backend_->count("SELECT since_ms FROM leases WHERE name = 'controller'"), 10'000);
  EXPECT_EQ(backend_->count("SELECT expires_ms FROM leases WHERE name = 'controller'"), 14'000);
}

TEST_P(LeaseDbTest, ExpiryHandsTheLeaseOver) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->acquire_or_renew("controller", "A", kTtl, 10'000).value(), "A");
  EXPECT_EQ(b->acquire_or_renew("controller", "B", kTtl, 10'999).value(), "A");  // live
  EXPECT_EQ(b->acquire_or_renew("controller", "B", kTtl, 11'000).value(), "B");  // expired
  EXPECT_EQ(backend_->count("SELECT since_ms FROM leases WHERE name = 'controller'"), 11'000);
  // The old holder comes back: B's lease is live, A does not get it.
  EXPECT_EQ(a->acquire_or_renew("controller", "A", kTtl, 11'500).value(), "B");
}

TEST_P(LeaseDbTest, ReleaseFreesTheLeaseOnlyForItsHolder) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->acquire_or_renew("controller", "A", kTtl, 10'000).value(), "A");
  ASSERT_TRUE(b->release("controller", "B"));  // not B's: nothing happens
  EXPECT_EQ(b->acquire_or_renew("controller", "B", kTtl, 10'100).value(), "A");
  ASSERT_TRUE(a->release("controller", "A"));
  EXPECT_EQ(b->acquire_or_renew("controller", "B", kTtl, 10'200).value(), "B");  // at once
}

TEST_P(LeaseDbTest, ALeaseNeedsAWritableReader) {
  auto r = open_store_reader(backend_->location(), StoreReaderOptions{});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r.value()->acquire_or_renew("controller", "A", kTtl, 1));
}

TEST_P(LeaseDbTest, KnobEventsKeepTheirReplicaAndAreReadAfterAnId) {
  auto db = open();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->insert_knob_event({1, "r", "k", 0, 1, "admin", "", 3, "A", 0}));
  ASSERT_TRUE(db->insert_knob_event({2, "r", "k", 1, 2, "admin", "", 4, "B", 0}));
  ASSERT_TRUE(db->insert_knob_event({3, "r", "k", 2, 3, "admin", "", 3, "B", 0, true}));
  const auto all = db->list_knob_events_after(0, 3).value();
  ASSERT_EQ(all.size(), 2u);  // version 3 only, oldest first
  EXPECT_EQ(all[0].replica, "A");
  EXPECT_EQ(all[1].replica, "B");
  EXPECT_DOUBLE_EQ(all[1].after, 3);
  EXPECT_FALSE(all[0].observe);
  EXPECT_TRUE(all[1].observe);
  EXPECT_LT(all[0].id, all[1].id);
  const auto later = db->list_knob_events_after(all[0].id, 3).value();
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].id, all[1].id);
  EXPECT_TRUE(db->list_knob_events_after(all[1].id, 3).value().empty());
  const auto newest = db->list_knob_events(1).value();
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].replica, "B");
  EXPECT_EQ(newest[0].id, all[1].id);
}

}  // namespace
}  // namespace triage::telemetry

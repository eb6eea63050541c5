// WindowSliceDb over every backend (telemetry/window_slice_db.h): a replica's publish replaces
// its rows in one batch, others() leaves out the asking replica and replicas that stopped
// publishing, old rows are deleted, and a read-only reader refuses to publish.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "support/store_backends.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {
namespace {

class WindowSliceDbTest : public testing::SchemaStoreTest {
 protected:
  static StoredWindowSlice row(const std::string& key, int64_t start, int64_t requests,
                               int64_t ok = 0) {
    StoredWindowSlice r;
    r.window_key = key;
    r.slice_start_ms = start;
    r.requests = requests;
    r.ok = ok;
    r.compared = 1;
    r.agreed = 1;
    r.cost_usd = 0.25 * static_cast<double>(requests);
    r.latency = "3:" + std::to_string(requests);
    return r;
  }
};

TRIAGE_ON_EVERY_BACKEND(WindowSliceDbTest);

TEST_P(WindowSliceDbTest, OthersSeeEveryReplicaButTheAskingOneWithAllColumns) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(
      a->publish_window_slices("A", {row("slo:x", 1000, 5, 4), row("slo:y", 1000, 2)}, 5000));
  ASSERT_TRUE(
      b->publish_window_slices("B", {row("slo:x", 1000, 7, 7), row("slo:x", 2000, 1, 1)}, 5100));
  auto for_a = a->other_window_slices({"slo:x", "slo:y"}, "A", 0).value();
  ASSERT_EQ(for_a.size(), 2u);
  EXPECT_EQ(for_a[0].replica, "B");
  EXPECT_EQ(for_a[0].window_key, "slo:x");
  EXPECT_EQ(for_a[0].slice_start_ms, 1000);
  EXPECT_EQ(for_a[0].requests, 7);
  EXPECT_EQ(for_a[0].ok, 7);
  EXPECT_EQ(for_a[0].compared, 1);
  EXPECT_EQ(for_a[0].agreed, 1);
  EXPECT_DOUBLE_EQ(for_a[0].cost_usd, 1.75);
  EXPECT_EQ(for_a[0].latency, "3:7");
  EXPECT_EQ(for_a[0].updated_ms, 5100);
  EXPECT_EQ(for_a[1].slice_start_ms, 2000);
  auto for_b = b->other_window_slices({"slo:y"}, "B", 0).value();
  ASSERT_EQ(for_b.size(), 1u);
  EXPECT_EQ(for_b[0].replica, "A");
  EXPECT_EQ(for_b[0].requests, 2);
  EXPECT_TRUE(b->other_window_slices({"slo:none"}, "B", 0).value().empty());
}

TEST_P(WindowSliceDbTest, APublishReplacesThatReplicasRowsOnly) {
  auto db = open();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->publish_window_slices("A", {row("k", 1000, 1), row("k", 2000, 2)}, 5000));
  ASSERT_TRUE(db->publish_window_slices("B", {row("k", 1000, 9)}, 5000));
  // A's slice of 1 s fell out of its window and the one of 2 s grew: one row left, updated.
  ASSERT_TRUE(db->publish_window_slices("A", {row("k", 2000, 3)}, 6000));
  auto rows = db->other_window_slices({"k"}, "B", 0).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].slice_start_ms, 2000);
  EXPECT_EQ(rows[0].requests, 3);
  EXPECT_EQ(rows[0].updated_ms, 6000);
  EXPECT_EQ(db->other_window_slices({"k"}, "A", 0).value().size(), 1u);  // B's untouched
  // An empty publish clears the replica's rows.
  ASSERT_TRUE(db->publish_window_slices("A", {}, 7000));
  EXPECT_TRUE(db->other_window_slices({"k"}, "B", 0).value().empty());
  EXPECT_EQ(backend_->count("SELECT COUNT(*) FROM window_slices"), 1);
}

TEST_P(WindowSliceDbTest, StaleReplicasAreLeftOutAndOldRowsDeleted) {
  auto db = open();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->publish_window_slices("dead", {row("k", 1000, 4)}, 1000));
  ASSERT_TRUE(db->publish_window_slices("live", {row("k", 1000, 2)}, 9000));
  auto rows = db->other_window_slices({"k"}, "me", 6000).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].replica, "live");
  EXPECT_EQ(db->other_window_slices({"k"}, "me", 0).value().size(), 2u);
  EXPECT_EQ(db->delete_window_slices_before(6000).value(), 1);
  EXPECT_EQ(db->other_window_slices({"k"}, "me", 0).value().size(), 1u);
  EXPECT_EQ(db->delete_window_slices_before(6000).value(), 0);
}

TEST_P(WindowSliceDbTest, AReadOnlyReaderRefusesToPublish) {
  auto db = open(/*writes=*/false);
  ASSERT_TRUE(db);
  auto r = db->publish_window_slices("A", {row("k", 1000, 1)}, 5000);
  ASSERT_FALSE(r);
  EXPECT_FALSE(db->delete_window_slices_before(1));
  EXPECT_TRUE(db->other_window_slices({"k"}, "B", 0).value().empty());
}

}  // namespace
}  // namespace triage::telemetry

#pragma once
// The SQLite implementation of StoreReader (telemetry/store_reader.h) over the request store's
// file (schema in docs/store.md). Built by open_store_reader(); nothing else names it.
//
// Connections: one read-only connection for every query, guarded by read_mu_ (WAL: reads
// never block the store's writer, and see whole batches only); with review writes, one more
// read-write connection with synchronous=FULL, guarded by write_mu_ (each label or feedback
// is its own fsynced transaction).
//
// The queries live in three files, one per interface: sqlite_dashboard_queries.cc,
// sqlite_review_queries.cc, sqlite_traffic_queries.cc.
#include <mutex>
#include <string>

#include "telemetry/sqlite_db.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {

class SqliteStoreReader final : public StoreReader {
 public:
  // Opens `path` read-only (and read-write for review writes). Error: cannot open, or review
  // writes asked of a file without the review tables (schema version < 2).
  static Result<std::unique_ptr<SqliteStoreReader>> open(const std::string& path,
                                                         const StoreReaderOptions& options);

  std::string name() const override { return "sqlite/1"; }

  // DashboardReader (sqlite_dashboard_queries.cc)
  Result<std::optional<TimeRange>> data_span(const TimeRange& r) override;
  Result<SummaryRow> summary(const TimeRange& r) override;
  Result<std::vector<CostCell>> cost_cells(const TimeRange& r, int64_t bucket_ms,
                                           Dimension by) override;
  Result<std::vector<std::pair<int64_t, int64_t>>> success_counts(const TimeRange& r,
                                                                  int64_t bucket_ms) override;
  Result<std::vector<std::vector<LatencySample>>> latency_samples(
      const std::vector<SampleWindow>& windows) override;
  Result<std::vector<ModelRow>> models(const TimeRange& r) override;
  Result<std::vector<ModelAvailability>> availability(const TimeRange& r) override;
  Result<CascadeStops> cascade_stops(const TimeRange& r, int64_t limit) override;
  Result<ConfidenceBins> confidence_bins(const TimeRange& r, int bins, int64_t limit) override;
  Result<std::vector<LabelGroup>> label_groups(const TimeRange& r) override;

  // ReviewDb (sqlite_review_queries.cc)
  Result<int64_t> add_feedback(const FeedbackInput& in, int64_t now_ms,
                               bool* enqueued = nullptr) override;
  Result<int64_t> add_label(const LabelInput& in, int64_t now_ms) override;
  Result<ReviewPage> list(const ReviewQuery& q) override;
  Result<ReviewDetail> detail(const std::string& request_id) override;

  // KeyDb (sqlite_key_queries.cc); writes need review_writes
  Result<std::vector<StoredKey>> list_keys() override;
  Result<std::vector<KeyPeriodSpend>> key_spend(int64_t day_start_ms,
                                                int64_t month_start_ms) override;
  Result<void> insert_key(const StoredKey& key) override;
  Result<void> set_key_disabled(const std::string& id, bool disabled, int64_t now_ms) override;
  Result<void> delete_key(const std::string& id) override;

  // ConfigHistoryDb (sqlite_config_queries.cc); the insert needs review_writes
  Result<std::vector<StoredConfigVersion>> list_config_versions(bool with_yaml) override;
  Result<std::optional<StoredConfigVersion>> find_config_version(int64_t seq) override;
  Result<void> insert_config_version(const StoredConfigVersion& v) override;
  Result<std::vector<StoredKnobEvent>> list_knob_events(int64_t limit) override;
  Result<std::vector<StoredKnobEvent>> list_knob_events_after(int64_t after_id,
                                                              int64_t config_version) override;
  Result<void> insert_knob_event(const StoredKnobEvent& e) override;
  Result<std::vector<StoredSloState>> list_slo_states() override;
  Result<void> save_slo_state(const StoredSloState& s) override;

  // LeaseDb (sqlite_lease_queries.cc); needs review_writes
  Result<std::string> acquire_or_renew(const std::string& name, const std::string& holder,
                                       int64_t ttl_ms, int64_t now_ms) override;
  Result<void> release(const std::string& name, const std::string& holder) override;

  // RolloutDb (sqlite_rollout_queries.cc); writes need review_writes
  Result<std::vector<StoredRollout>> list_rollouts() override;
  Result<void> save_rollout(const StoredRollout& r) override;
  Result<void> insert_rollout_event(const StoredRolloutEvent& e) override;
  Result<std::vector<StoredRolloutEvent>> list_rollout_events(const std::string& route,
                                                              int64_t limit) override;

  // WindowSliceDb (sqlite_window_slice_queries.cc); writes need review_writes
  Result<void> publish_window_slices(const std::string& replica,
                                     const std::vector<StoredWindowSlice>& rows,
                                     int64_t now_ms) override;
  Result<std::vector<StoredWindowSlice>> other_window_slices(
      const std::vector<std::string>& window_keys, const std::string& exclude_replica,
      int64_t since_ms) override;
  Result<int64_t> delete_window_slices_before(int64_t before_ms) override;

  // TrafficReader (sqlite_traffic_queries.cc)
  Result<void> scan_requests(const std::function<Result<void>(StoredRequest&&)>& on_row) override;
  Result<void> scan_traffic(const std::function<Result<void>(TrafficRow&&)>& on_row) override;
  Result<std::vector<TierTotals>> tier_totals() override;
  Result<std::vector<LabeledRequest>> latest_labels(const std::string& category) override;
  Result<std::vector<FeedbackOnlyRequest>> latest_unlabeled_feedback(
      const std::string& category) override;

 private:
  SqliteStoreReader(const std::string& path, const StoreReaderOptions& options)
      : path_(path), options_(options) {}
  // kInternal: public "request store error: <what>", internal "<path>: <what>: <SQLite's>".
  Error sql_error(const char* what, sqlite::Connection& db) const;
  // Under write_mu_. With `api_key_id`, a request of another key is kNotFound too (a client
  // may only touch its own requests, and may not learn that others exist).
  Result<int64_t> request_ts(const std::string& request_id, const std::string& api_key_id = {});

  const std::string path_;
  const StoreReaderOptions options_;
  std::mutex read_mu_;
  sqlite::Connection read_;  // guarded by read_mu_
  std::mutex write_mu_;
  sqlite::Connection write_;  // guarded by write_mu_; open only with options_.review_writes
};

}  // namespace triage::telemetry

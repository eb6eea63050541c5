#pragma once
// The PostgreSQL implementation of StoreReader (telemetry/store_reader.h) over a request store
// that a PgStore created (schema in pg_schema.h). Built by open_store_reader(); nothing else
// names it. The queries are SqliteStoreReader's, ported: same results, ordering and units.
//
// Connection: one, guarded by mu_ (readers run on worker threads, where blocking is fine).
// Without review writes it is read-only (default_transaction_read_only). A connection lost
// (database restarted) is re-established on the next call; a read that failed because of it
// is retried once.
//
// The queries live in one file per interface: pg_dashboard_queries.cc, pg_review_queries.cc,
// pg_traffic_queries.cc, pg_admin_queries.cc (keys, config history, rollouts).
#include <memory>
#include <mutex>
#include <string>

#include "telemetry/pg_db.h"
#include "telemetry/store_reader.h"

namespace triage::telemetry {

class PgStoreReader final : public StoreReader {
 public:
  // Connects to `conninfo` (password from store.password_env when not empty). Error
  // (kInvalidRequest, naming the database without its password): cannot connect, not a
  // request store (no schema: start a gateway on it first), or a newer schema.
  static Result<std::unique_ptr<PgStoreReader>> open(const std::string& conninfo,
                                                     const std::string& password,
                                                     const StoreReaderOptions& options);

  std::string name() const override { return "postgres/1"; }

  // DashboardReader (pg_dashboard_queries.cc)
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

  // ReviewDb (pg_review_queries.cc)
  Result<int64_t> add_feedback(const FeedbackInput& in, int64_t now_ms,
                               bool* enqueued = nullptr) override;
  Result<int64_t> add_label(const LabelInput& in, int64_t now_ms) override;
  Result<ReviewPage> list(const ReviewQuery& q) override;
  Result<ReviewDetail> detail(const std::string& request_id) override;

  // KeyDb, ConfigHistoryDb, RolloutDb (pg_admin_queries.cc); writes need review_writes
  Result<std::vector<StoredKey>> list_keys() override;
  Result<std::vector<KeyPeriodSpend>> key_spend(int64_t day_start_ms,
                                                int64_t month_start_ms) override;
  Result<void> insert_key(const StoredKey& key) override;
  Result<void> set_key_disabled(const std::string& id, bool disabled, int64_t now_ms) override;
  Result<void> delete_key(const std::string& id) override;
  Result<std::vector<StoredConfigVersion>> list_config_versions(bool with_yaml) override;
  Result<std::optional<StoredConfigVersion>> find_config_version(int64_t seq) override;
  Result<void> insert_config_version(const StoredConfigVersion& v) override;
  Result<std::vector<StoredKnobEvent>> list_knob_events(int64_t limit) override;
  Result<std::vector<StoredKnobEvent>> list_knob_events_after(int64_t after_id,
                                                              int64_t config_version) override;
  Result<void> insert_knob_event(const StoredKnobEvent& e) override;
  Result<std::vector<StoredSloState>> list_slo_states() override;
  Result<void> save_slo_state(const StoredSloState& s) override;
  Result<std::vector<StoredRollout>> list_rollouts() override;
  Result<void> save_rollout(const StoredRollout& r) override;
  Result<void> insert_rollout_event(const StoredRolloutEvent& e) override;
  Result<std::vector<StoredRolloutEvent>> list_rollout_events(const std::string& route,
                                                              int64_t limit) override;

  // WindowSliceDb (pg_window_slice_queries.cc); writes need review_writes
  Result<void> publish_window_slices(const std::string& replica,
                                     const std::vector<StoredWindowSlice>& rows,
                                     int64_t now_ms) override;
  Result<std::vector<StoredWindowSlice>> other_window_slices(
      const std::vector<std::string>& window_keys, const std::string& exclude_replica,
      int64_t since_ms) override;
  Result<int64_t> delete_window_slices_before(int64_t before_ms) override;
  // LeaseDb (pg_lease_queries.cc); needs review_writes
  Result<std::string> acquire_or_renew(const std::string& name, const std::string& holder,
                                       int64_t ttl_ms, int64_t now_ms) override;
  Result<void> release(const std::string& name, const std::string& holder) override;

  // TrafficReader (pg_traffic_queries.cc)
  Result<void> scan_requests(const std::function<Result<void>(StoredRequest&&)>& on_row) override;
  Result<void> scan_traffic(const std::function<Result<void>(TrafficRow&&)>& on_row) override;
  Result<std::vector<TierTotals>> tier_totals() override;
  Result<std::vector<LabeledRequest>> latest_labels(const std::string& category) override;
  Result<std::vector<FeedbackOnlyRequest>> latest_unlabeled_feedback(
      const std::string& category) override;

 private:
  PgStoreReader(std::string where, const StoreReaderOptions& options)
      : where_(std::move(where)), options_(options) {}
  // kInternal: public "request store error: <what>", internal "<where>: <what>: <libpq's>".
  Error sql_error(const char* what, const Error& e) const;
  // For the offline commands: kInvalidRequest "<where>: <what>: <libpq's>".
  Error scan_error(const char* what, const Error& e) const;
  // Under mu_: reconnects a connection the server dropped. False when it cannot.
  bool ensure_connected();
  // Under mu_: one read statement, retried once on a fresh connection when the connection
  // (not the statement) failed.
  Result<pg::ResultSet> query(std::string_view sql, const pg::Params& params = {});
  // Under mu_: one write statement (autocommit), never retried: a retry after a lost answer
  // could apply it twice.
  Result<pg::ResultSet> write(std::string_view sql, const pg::Params& params);
  // Under mu_: kInternal "opened read-only" unless options_.review_writes.
  Result<void> writable(const char* what) const;
  // Under mu_, inside a transaction. With `api_key_id`, a request of another key is
  // kNotFound too (a client may only touch its own requests).
  Result<int64_t> request_ts(const std::string& request_id, const std::string& api_key_id = {});

  const std::string where_;  // describe_conninfo(): never the password
  const StoreReaderOptions options_;
  std::mutex mu_;
  pg::Connection db_;  // guarded by mu_
};

}  // namespace triage::telemetry

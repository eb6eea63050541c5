#pragma once
// The read side of the request store, one layer under every reader: the dashboard
// (DashboardReader), the review queue (ReviewDb, which also takes the review API's durable
// writes) and the offline commands (TrafficReader). Consumers see these typed interfaces
// only; a backend is one class implementing StoreReader (SQLite: telemetry/sqlite_reader.h),
// added to open_store_reader() under its store.type (docs/store.md "Another backend").
#include <memory>
#include <string>

#include "common/result.h"
#include "config/config.h"
#include "telemetry/config_history_db.h"
#include "telemetry/dashboard_reader.h"
#include "telemetry/key_db.h"
#include "telemetry/lease_db.h"
#include "telemetry/review_db.h"
#include "telemetry/rollout_db.h"
#include "telemetry/traffic_reader.h"
#include "telemetry/window_slice_db.h"

namespace triage::telemetry {

class StoreReader : public DashboardReader,
                    public ReviewDb,
                    public TrafficReader,
                    public KeyDb,
                    public ConfigHistoryDb,
                    public RolloutDb,
                    public WindowSliceDb,
                    public LeaseDb {
 public:
  ~StoreReader() override = default;
  // Versioned implementation name for logs ("sqlite/1").
  virtual std::string name() const = 0;
};

struct StoreReaderOptions {
  // Accept the review API's writes (labels, feedback): needs a store the gateway created
  // (schema version 2 or later). Off: read-only; the writes answer kInternal.
  bool review_writes = false;
  bool negative_feedback_enqueues = false;  // config review.negative_feedback
};

// The reader of an existing store at `location` (the offline commands' `--store LOCATION`: a
// SQLite file, or a PostgreSQL URI "postgres://..." / "postgresql://...", whose password comes
// from libpq's PGPASSWORD or ~/.pgpass). Error (kInvalidRequest, message naming the location,
// never a password): it cannot be opened, is not a request store, or review_writes was asked
// of a store without the review tables.
Result<std::unique_ptr<StoreReader>> open_store_reader(const std::string& location,
                                                       const StoreReaderOptions& options = {});

// A store location for people (messages, report headers): a SQLite path as it is, a
// PostgreSQL URI without its password (pg::describe_conninfo).
std::string describe_store_location(const std::string& location);

// The reader of the store a config writes (the gateway's APIs). Error (kUnavailable) when the
// configured store cannot be read back: store.type none, SQLite ":memory:", a PostgreSQL
// database that cannot be reached; the message says why. `what` names the consumer in that message
// ("the dashboard API").
Result<std::unique_ptr<StoreReader>> open_store_reader(const config::Config& cfg,
                                                       const StoreReaderOptions& options,
                                                       const std::string& what);

}  // namespace triage::telemetry

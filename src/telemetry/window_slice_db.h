#pragma once
// The window counts replicas sharing one store publish to each other (docs/scaling.md "Fleet
// numbers"): table `window_slices` (schema version 12), one row per (replica, window, slice)
// with the slice's counts, so each replica's SLO controller and rollouts judge on the fleet's
// numbers. Each replica rewrites its own rows every period; rows nobody rewrites any more
// (a replica that stopped) are deleted by delete_window_slices_before().
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace triage::telemetry {

struct StoredWindowSlice {
  std::string replica;         // triage::replica_id() of the publisher
  std::string window_key;      // what the window measures, the same on every replica
  int64_t slice_start_ms = 0;  // unix ms, aligned to the window's slice width
  int64_t requests = 0, ok = 0, compared = 0, agreed = 0;
  double cost_usd = 0;
  std::string latency;     // the latency histogram, "BIN:COUNT,..." of its non-empty bins
  int64_t updated_ms = 0;  // unix ms of the publish that wrote the row
};

// Writes need a writable reader (StoreReaderOptions::review_writes). A store older than
// schema version 12 reads as empty and refuses writes. Thread-safe; blocking (a worker thread).
class WindowSliceDb {
 public:
  virtual ~WindowSliceDb() = default;
  // Replaces `replica`'s rows by `rows` (each row's replica is `replica`'s) in one
  // transaction: upserts them with updated_ms = now_ms and deletes that replica's rows not in
  // the batch (slices that fell out of its windows, windows it no longer keeps).
  virtual Result<void> publish_window_slices(const std::string& replica,
                                             const std::vector<StoredWindowSlice>& rows,
                                             int64_t now_ms) = 0;
  // The rows of `window_keys` written by replicas other than `exclude_replica` at or after
  // `since_ms` (older: a replica that stopped publishing), by key, replica and slice.
  virtual Result<std::vector<StoredWindowSlice>> other_window_slices(
      const std::vector<std::string>& window_keys, const std::string& exclude_replica,
      int64_t since_ms) = 0;
  // Deletes every row last written before `before_ms`; the number deleted.
  virtual Result<int64_t> delete_window_slices_before(int64_t before_ms) = 0;
};

}  // namespace triage::telemetry

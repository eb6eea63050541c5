#pragma once
// Leases in the request store (table `leases`, schema version 11): one named lease per fleet
// job (the lease "controller": which replica runs the SLO controller and the rollouts,
// server/leadership.h). A lease is held by one replica (common/ids.h replica_id()) until its
// expiry; replicas compare times from their own clocks (unix ms), so their clocks must agree
// to well within a ttl.
#include <cstdint>
#include <string>

#include "common/result.h"

namespace triage::telemetry {

// Needs a writable reader (StoreReaderOptions::review_writes). Thread-safe.
class LeaseDb {
 public:
  virtual ~LeaseDb() = default;
  // One atomic step: takes lease `name` for `holder` until now_ms + ttl_ms when it is free,
  // expired (expires_ms <= now_ms) or already `holder`'s (a renewal, which keeps its since_ms);
  // never takes a live lease of another holder. Returns the holder after the call: `holder`
  // when it holds the lease now, else the live holder.
  virtual Result<std::string> acquire_or_renew(const std::string& name, const std::string& holder,
                                               int64_t ttl_ms, int64_t now_ms) = 0;
  // Frees lease `name` when `holder` holds it (else does nothing): the next acquire_or_renew()
  // of any holder takes it at once.
  virtual Result<void> release(const std::string& name, const std::string& holder) = 0;
};

}  // namespace triage::telemetry

#pragma once
// One controller for a fleet (docs/scaling.md "One controller"): replicas sharing one store
// (store.config_poll_ms > 0) take turns holding the store's lease "controller"
// (telemetry/lease_db.h); the holder is the leader, the one replica whose SLO controller moves
// knobs and whose rollouts move weights. The others measure and follow its moves
// (server/knob_moves.h).
//
// The leader renews the lease every ttl/3 on its own thread. is_leader() turns false as soon as
// a renewal fails (a leader that cannot reach the store stops acting) or, should the renewal
// thread stall, once the lease's time (minus a fifth, for clocks that differ a little) is
// past. stop() releases the lease, so after a clean shutdown another replica takes over at its
// next renewal; after a crash it waits for the lease to expire.
//
// Outside a fleet there is no lease: is_leader() is always true and nothing is written.
//
// Threading: is_leader() from any thread (one atomic and the clock); leader() under a short
// mutex; renew() on the renewal thread (or a test's): blocking store work.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/periodic_worker.h"
#include "config/config.h"
#include "telemetry/lease_db.h"
#include "telemetry/metrics.h"

namespace triage::server {

class Leadership {
 public:
  using Clock = std::function<int64_t()>;  // unix ms
  static constexpr const char* kLease = "controller";

  // `lease`: null outside a fleet. `replica`: this process's name (replica_id()).
  Leadership(std::unique_ptr<telemetry::LeaseDb> lease, std::string replica, int64_t ttl_ms,
             telemetry::Metrics& metrics, Clock clock = {});
  // The start-up config's: a fleet when store.config_poll_ms > 0 (lease ttl
  // store.leader_lease_ms). Throws std::runtime_error when a fleet's store cannot be written
  // (store.type none, ':memory:', a database that does not answer): a fleet cannot agree on a
  // leader without it.
  static std::unique_ptr<Leadership> from_config(const config::Config& cfg,
                                                 telemetry::Metrics& metrics);
  ~Leadership();  // stop()
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  // Tries to take the lease now, then renews it every ttl/3 until stop(). No-op outside a fleet.
  void start();
  // Stops renewing and releases the lease when this replica holds it. Idempotent.
  void stop();
  // One round: take or renew the lease (the renewal thread's work; tests call it).
  void renew();

  bool is_leader() const;
  bool fleet() const { return lease_ != nullptr; }
  const std::string& replica() const { return replica_; }
  // The holder the last round saw ("" before one, or after the store did not answer); this
  // replica outside a fleet.
  std::string leader() const;

 private:
  // The outcome of one round (under mu_): logs and counts a change.
  void settle(bool leading, const std::string& why);

  const std::unique_ptr<telemetry::LeaseDb> lease_;
  const std::string replica_;
  const int64_t ttl_ms_;
  telemetry::Metrics& metrics_;
  const Clock clock_;
  std::atomic<int64_t> valid_until_ms_{0};  // leader while clock() < this

  mutable std::mutex mu_;  // guards the two below; serialises renew() and stop()
  std::string holder_;
  bool leading_ = false;  // as of the last round
  bool stopped_ = false;

  // Last: its thread uses the members above, so it stops before they go.
  PeriodicWorker worker_{"leader lease", [this] { renew(); },
                         [this] { return std::max<int64_t>(1, ttl_ms_ / 3); }};
};

}  // namespace triage::server

#include "server/leadership.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "common/clock.h"
#include "common/ids.h"
#include "telemetry/store_reader.h"

namespace triage::server {

Leadership::Leadership(std::unique_ptr<telemetry::LeaseDb> lease, std::string replica,
                       int64_t ttl_ms, telemetry::Metrics& metrics, Clock clock)
    : lease_(std::move(lease)),
      replica_(std::move(replica)),
      ttl_ms_(ttl_ms),
      metrics_(metrics),
      clock_(clock ? std::move(clock) : Clock([] { return unix_time_ms(); })) {
  if (!lease_) holder_ = replica_;
}

std::unique_ptr<Leadership> Leadership::from_config(const config::Config& cfg,
                                                    telemetry::Metrics& metrics) {
  if (cfg.store.config_poll_ms <= 0) {
    return std::make_unique<Leadership>(nullptr, replica_id(), 0, metrics);
  }
  telemetry::StoreReaderOptions options;
  options.review_writes = true;
  auto reader = telemetry::open_store_reader(cfg, options, "the leader lease");
  if (!reader) {
    throw std::runtime_error("store.config_poll_ms: replicas sharing a store agree on a leader "
                             "in it, but " + reader.error().message);
  }
  std::unique_ptr<telemetry::LeaseDb> lease = std::move(reader).value();
  return std::make_unique<Leadership>(std::move(lease), replica_id(), cfg.store.leader_lease_ms,
                                      metrics);
}

Leadership::~Leadership() { stop(); }

void Leadership::start() {
  if (!lease_) return;
  metrics_.set_leader(replica_, false);
  worker_.start(/*run_first=*/true);
}

bool Leadership::is_leader() const {
  if (!lease_) return true;
  return clock_() < valid_until_ms_.load(std::memory_order_acquire);
}

std::string Leadership::leader() const {
  std::lock_guard lk(mu_);
  return holder_;
}

void Leadership::renew() {
  if (!lease_) return;
  std::lock_guard lk(mu_);
  if (stopped_) return;
  const int64_t now = clock_();
  Result<std::string> held = lease_->acquire_or_renew(kLease, replica_, ttl_ms_, now);
  if (!held) {
    valid_until_ms_.store(0, std::memory_order_release);
    holder_.clear();
    settle(false, "the store did not answer (" + held.error().message + ")");
    return;
  }
  holder_ = held.value();
  const bool leading = holder_ == replica_;
  // A fifth of the ttl short of the store's expiry: replicas' clocks may differ a little.
  valid_until_ms_.store(leading ? now + ttl_ms_ - ttl_ms_ / 5 : 0, std::memory_order_release);
  settle(leading, holder_.empty() ? "nobody" : holder_);
}

void Leadership::settle(bool leading, const std::string& why) {
  metrics_.set_leader(replica_, leading);
  if (leading == leading_) return;
  leading_ = leading;
  metrics_.count_leader_change();
  if (leading) {
    spdlog::info("leader: this replica ({}) now runs the controllers", replica_);
  } else if (holder_.empty()) {
    spdlog::warn("leader: this replica ({}) lost the lease: {}", replica_, why);
  } else {
    spdlog::warn("leader: this replica ({}) lost the lease to {}", replica_, why);
  }
}

void Leadership::stop() {
  worker_.stop();
  if (!lease_) return;
  std::lock_guard lk(mu_);
  if (stopped_) return;
  stopped_ = true;
  valid_until_ms_.store(0, std::memory_order_release);
  if (!leading_) return;
  if (auto r = lease_->release(kLease, replica_); !r) {
    spdlog::warn("leader: lease not released ({}); another replica takes over when it expires",
                 r.error().message);
  } else {
    spdlog::info("leader: this replica ({}) released the lease", replica_);
  }
  leading_ = false;
  holder_.clear();
  metrics_.set_leader(replica_, false);
  metrics_.count_leader_change();
}

}  // namespace triage::server

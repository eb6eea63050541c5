#include "control/balancer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

#include "control/utc_calendar.h"

namespace triage::control {

namespace {
enum Outcome { kSuccess = 0, kFailure = 1, kNeutral = 2 };
constexpr int64_t kNoSample = INT64_MIN;
}  // namespace

struct Balancer::Deployment {
  Deployment(std::string deployment_name, const BreakerOptions& options, const WallClock& clock,
             TransitionListener listener, double initial_latency_ms)
      : name(std::move(deployment_name)),
        breaker(name, options, clock, std::move(listener)),
        latency_ms(initial_latency_ms) {}

  const std::string name;
  CircuitBreaker breaker;
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> picks{0};
  std::atomic<double> latency_ms;  // written under sample_mu, read lock-free
  std::atomic<int64_t> last_sample_ms{kNoSample};
  std::mutex sample_mu;  // serialises updates of the average
};

Error all_open_error(const AllOpen& all_open) {
  const int64_t seconds =
      all_open.retry_after_ms <= 0 ? 1 : retry_after_seconds(0, all_open.retry_after_ms);
  Error e = make_error(ErrorCode::kUnavailable,
                       "model '" + all_open.model +
                           "' is temporarily unavailable (its upstreams are failing); retry "
                           "after " +
                           std::to_string(seconds) + " s",
                       "every deployment's circuit is open");
  e.retry_after_s = seconds;
  return e;
}

Balancer::Balancer(std::string model, std::vector<std::string> deployments, BalancerOptions options,
                   const WallClock& clock, RandomSource& rng, TransitionListener listener)
    : model_(std::move(model)), options_(options), clock_(clock), rng_(rng) {
  if (deployments.empty() || deployments.size() > kMaxDeployments) {
    throw std::invalid_argument("model '" + model_ + "' needs 1 to " +
                                std::to_string(kMaxDeployments) + " deployments");
  }
  std::set<std::string> seen;
  for (auto& name : deployments) {
    if (!seen.insert(name).second) {
      throw std::invalid_argument("model '" + model_ + "' has two deployments named '" + name +
                                  "'");
    }
    deployments_.push_back(std::make_unique<Deployment>(
        std::move(name), options_.breaker, clock_, listener,
        static_cast<double>(std::max<int64_t>(1, options_.initial_latency_ms))));
  }
}

Balancer::~Balancer() = default;

double Balancer::cost(const Deployment& d, int64_t now, double best_latency) const {
  double latency = d.latency_ms.load(std::memory_order_relaxed);
  const int64_t last = d.last_sample_ms.load(std::memory_order_relaxed);
  if (last == kNoSample) {
    // Never measured: assume it is as good as the best measured one, so that it gets tried.
    if (std::isfinite(best_latency)) latency = best_latency;
  } else if (latency > best_latency && options_.idle_decay_ms > 0 && now > last) {
    const double idle = static_cast<double>(now - last);
    latency = best_latency + (latency - best_latency) *
                                 std::exp(-idle / static_cast<double>(options_.idle_decay_ms));
  }
  const auto load = static_cast<double>(d.in_flight.load(std::memory_order_relaxed) + 1);
  return latency * load;
}

std::variant<Balancer::Call, AllOpen> Balancer::pick(DeploymentSet avoid) {
  std::array<std::size_t, kMaxDeployments> candidates;
  std::size_t n = 0;
  for (std::size_t i = 0; i < deployments_.size(); ++i) {
    if (deployments_[i]->breaker.would_allow()) candidates[n++] = i;
  }
  auto drop = [&](std::size_t slot) { candidates[slot] = candidates[--n]; };

  while (n > 0) {
    const int64_t now = clock_.now_ms();
    std::size_t chosen_slot = n;
    // A deployment due a probe goes first: its recovery should not wait for a lucky draw.
    std::array<std::size_t, kMaxDeployments> due;
    std::size_t n_due = 0;
    for (std::size_t s = 0; s < n; ++s) {
      if (deployments_[candidates[s]]->breaker.probe_due()) due[n_due++] = s;
    }
    if (n_due > 0) {
      chosen_slot = due[uniform_below(rng_, n_due)];
    } else {
      // Power of two choices among the candidates, leaving out `avoid` when others remain.
      std::array<std::size_t, kMaxDeployments> pool;
      std::size_t n_pool = 0;
      for (std::size_t s = 0; s < n; ++s) {
        if (!avoid.contains(candidates[s])) pool[n_pool++] = s;
      }
      if (n_pool == 0) {
        for (std::size_t s = 0; s < n; ++s) pool[n_pool++] = s;
      }
      if (n_pool == 1) {
        chosen_slot = pool[0];
      } else {
        double best = std::numeric_limits<double>::infinity();  // over measured ones
        for (std::size_t s = 0; s < n_pool; ++s) {
          const Deployment& d = *deployments_[candidates[pool[s]]];
          if (d.last_sample_ms.load(std::memory_order_relaxed) == kNoSample) continue;
          best = std::min(best, d.latency_ms.load(std::memory_order_relaxed));
        }
        const std::size_t a = uniform_below(rng_, n_pool);
        std::size_t b = uniform_below(rng_, n_pool - 1);
        if (b >= a) ++b;
        const double cost_a = cost(*deployments_[candidates[pool[a]]], now, best);
        const double cost_b = cost(*deployments_[candidates[pool[b]]], now, best);
        const bool take_a = cost_a < cost_b || (cost_a == cost_b && uniform_below(rng_, 2) == 0);
        chosen_slot = pool[take_a ? a : b];
      }
    }
    const std::size_t index = candidates[chosen_slot];
    Deployment& d = *deployments_[index];
    const BreakerPermit permit = d.breaker.try_acquire();
    if (!permit.allowed) {  // opened, or its probe slots filled, since would_allow()
      drop(chosen_slot);
      continue;
    }
    d.in_flight.fetch_add(1, std::memory_order_relaxed);
    d.picks.fetch_add(1, std::memory_order_relaxed);
    return Call(this, index, permit, now);
  }

  AllOpen all_open;
  all_open.model = model_;
  int64_t soonest = std::numeric_limits<int64_t>::max();
  for (const auto& d : deployments_) {
    const int64_t wait = d->breaker.retry_after_ms();
    if (wait > 0) soonest = std::min(soonest, wait);
  }
  all_open.retry_after_ms = soonest == std::numeric_limits<int64_t>::max() ? 0 : soonest;
  return all_open;
}

void Balancer::record(std::size_t index, bool failure, int64_t latency_ms) {
  Deployment& d = *deployments_[index];
  std::lock_guard lock(d.sample_mu);
  const int64_t now = clock_.now_ms();
  const double current = d.latency_ms.load(std::memory_order_relaxed);
  double sample = static_cast<double>(std::max<int64_t>(0, latency_ms));
  if (failure) sample = std::max(sample, options_.failure_penalty * current);
  const int64_t last = d.last_sample_ms.load(std::memory_order_relaxed);
  double next = sample;  // the first sample replaces the prior
  if (last != kNoSample) {
    const double dt = static_cast<double>(std::max<int64_t>(0, now - last));
    const double decay = static_cast<double>(std::max<int64_t>(1, options_.ewma_decay_ms));
    const double alpha = std::max(options_.min_sample_weight, 1.0 - std::exp(-dt / decay));
    next = current + alpha * (sample - current);
  }
  d.latency_ms.store(next, std::memory_order_relaxed);
  d.last_sample_ms.store(std::max(now, last), std::memory_order_relaxed);
}

std::vector<Balancer::DeploymentStats> Balancer::stats() const {
  std::vector<DeploymentStats> out;
  out.reserve(deployments_.size());
  for (const auto& d : deployments_) {
    out.push_back({d->name, d->breaker.state(), d->latency_ms.load(std::memory_order_relaxed),
                   d->in_flight.load(std::memory_order_relaxed),
                   d->picks.load(std::memory_order_relaxed)});
  }
  return out;
}

const CircuitBreaker& Balancer::breaker(std::size_t index) const {
  return deployments_.at(index)->breaker;
}

double Balancer::latency_ms(std::size_t index) const {
  return deployments_.at(index)->latency_ms.load(std::memory_order_relaxed);
}

// ---- Balancer::Call ----

Balancer::Call::Call(Balancer* balancer, std::size_t index, BreakerPermit permit, int64_t start_ms)
    : balancer_(balancer),
      deployment_(&balancer->deployments_[index]->name),
      index_(index),
      permit_(permit),
      start_ms_(start_ms) {}

Balancer::Call::Call(Call&& other) noexcept
    : balancer_(other.balancer_),
      deployment_(other.deployment_),
      index_(other.index_),
      permit_(other.permit_),
      start_ms_(other.start_ms_) {
  other.balancer_ = nullptr;
}

Balancer::Call::~Call() { finish(kNeutral, 0); }

void Balancer::Call::succeeded() {
  if (balancer_) finish(kSuccess, balancer_->clock_.now_ms() - start_ms_);
}
void Balancer::Call::succeeded_after(int64_t latency_ms) { finish(kSuccess, latency_ms); }
void Balancer::Call::failed() {
  if (balancer_) finish(kFailure, balancer_->clock_.now_ms() - start_ms_);
}
void Balancer::Call::neutral() { finish(kNeutral, 0); }

void Balancer::Call::finish(int outcome, int64_t latency_ms) {
  if (balancer_ == nullptr) return;
  Balancer* b = balancer_;
  balancer_ = nullptr;
  Deployment& d = *b->deployments_[index_];
  if (outcome == kSuccess) {
    b->record(index_, false, latency_ms);
    d.breaker.on_success(permit_);
  } else if (outcome == kFailure) {
    b->record(index_, true, latency_ms);
    d.breaker.on_failure(permit_);
  } else {
    d.breaker.on_neutral(permit_);
  }
  d.in_flight.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace triage::control

#pragma once
// Chooses among the deployments of one model (the same model served by several endpoints,
// regions or keys): power of two choices over a cost of latency x load, skipping deployments
// whose circuit is open.
//
// Cost of a deployment = its latency average x (its calls in flight + 1) ("peak EWMA"-like,
// as Finagle and Linkerd balance): two distinct deployments are drawn at random and the
// cheaper one is taken; equal costs are broken at random, so identical deployments share
// evenly. A deployment whose circuit can take a probe (cool-down over) is tried first, so that
// recovery is noticed without waiting for a lucky draw.
//
// Latency average: an exponentially weighted moving average with a time constant; a sample
// weighs alpha = max(min_sample_weight, 1 - exp(-dt / ewma_decay_ms)), dt = time since the
// previous sample, so it reacts within a few samples under load and forgets old samples when
// traffic is sparse. A failure is recorded as at least failure_penalty x the average (a
// deployment that fails fast must not look fast). A deployment without samples for a while
// drifts back towards the best deployment's average (idle_decay_ms), so one slow spell does
// not starve it forever; a deployment never measured counts as good as the best measured one,
// so that it is tried.
//
// Thread safety: all methods are thread-safe; pick() reads atomics only (a breaker takes its
// mutex on a transition). The clock and the random source are injected and must outlive the
// balancer.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "control/circuit_breaker.h"
#include "control/random.h"

namespace triage::control {

struct BalancerOptions {
  int64_t ewma_decay_ms = 10'000;
  double min_sample_weight = 0.1;
  // A deployment's average before its first sample (the base of its first failure penalty;
  // for choosing, an unmeasured deployment counts as good as the best measured one).
  int64_t initial_latency_ms = 1'000;
  double failure_penalty = 2.0;
  int64_t idle_decay_ms = 30'000;
  BreakerOptions breaker;  // one breaker per deployment, named after it
};

// Every deployment's circuit is open: nothing to call. The caller fails over (fallback,
// cascade) or answers 503 with Retry-After.
struct AllOpen {
  std::string model;
  int64_t retry_after_ms = 0;  // until the first cool-down ends (0: probes busy, soon)
};
Error all_open_error(const AllOpen& all_open);

// A set of a model's deployments by index (< Balancer::kMaxDeployments).
class DeploymentSet {
 public:
  static DeploymentSet of(std::size_t index) {
    DeploymentSet s;
    s.add(index);
    return s;
  }
  void add(std::size_t index) { bits_ |= uint64_t{1} << index; }
  bool contains(std::size_t index) const { return (bits_ >> index) & 1u; }
  bool empty() const { return bits_ == 0; }

 private:
  uint64_t bits_ = 0;
};

class Balancer {
 public:
  static constexpr std::size_t kMaxDeployments = 64;

  // `deployments` are names unique within the model (1..kMaxDeployments; throws
  // std::invalid_argument otherwise: a config error caught at start-up).
  Balancer(std::string model, std::vector<std::string> deployments, BalancerOptions options,
           const WallClock& clock, RandomSource& rng, TransitionListener listener = {});
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // One call to a deployment, RAII. Report the outcome once: succeeded() / failed() record
  // latency into the average and the outcome into the breaker; neutral() (or destruction
  // without an outcome) only releases the in-flight count and any probe slot.
  class Call {
   public:
    Call(Call&& other) noexcept;
    Call& operator=(Call&&) = delete;
    ~Call();

    std::size_t index() const { return index_; }
    const std::string& deployment() const { return *deployment_; }
    bool probe() const { return permit_.probe; }

    void succeeded();                          // latency: now - pick time
    void succeeded_after(int64_t latency_ms);  // an explicit latency (e.g. time to first byte)
    void failed();                             // counts against the breaker
    void neutral();

   private:
    friend class Balancer;
    Call(Balancer* balancer, std::size_t index, BreakerPermit permit, int64_t start_ms);
    void finish(int outcome, int64_t latency_ms);

    Balancer* balancer_;  // null once the outcome is recorded
    const std::string* deployment_;
    std::size_t index_;
    BreakerPermit permit_;
    int64_t start_ms_;
  };

  // Picks a deployment and counts the call in flight. Deployments in `avoid` (the one that just
  // failed, for a retry; ones at their concurrency limit) are not picked while another one
  // whose circuit allows a call is left.
  std::variant<Call, AllOpen> pick(DeploymentSet avoid = {});

  struct DeploymentStats {
    std::string name;
    BreakerState state;
    double latency_ms;  // the moving average
    int64_t in_flight;
    int64_t picks;
  };
  std::vector<DeploymentStats> stats() const;
  std::size_t size() const { return deployments_.size(); }
  const std::string& model() const { return model_; }
  const CircuitBreaker& breaker(std::size_t index) const;
  // The average latency of a deployment (for a retry's expected attempt time).
  double latency_ms(std::size_t index) const;

 private:
  struct Deployment;
  double cost(const Deployment& d, int64_t now, double best_latency) const;
  void record(std::size_t index, bool failure, int64_t latency_ms);

  const std::string model_;
  const BalancerOptions options_;
  const WallClock& clock_;
  RandomSource& rng_;
  std::vector<std::unique_ptr<Deployment>> deployments_;
};

}  // namespace triage::control

#pragma once
// The `split` route kind: a weighted choice between children (A/B tests, canaries).
//
//   - name: chat
//     type: split
//     children:
//       - {route: stable, weight: 90}
//       - {route: canary, weight: 10}
//     sticky: user          # none (default) | user | api_key | cohort
//
// Weights are relative (>= 0, at least one > 0 at load). Each request maps a 64-bit hash to a
// point in [0, 1) and takes the child whose cumulative weight share covers it:
//   - sticky none: the hash of the request id (different on every request, yet replayable by
//     `triage eval`, which keeps request ids);
//   - sticky user | api_key | cohort: the hash of that RequestMeta field, so one user (key,
//     cohort) always gets the same child while the weights stay the same. A request without
//     that field falls back to its request id.
// Hash: FNV-1a 64 of "<route name>\0<key>", then a 64-bit finaliser (FNV-1a alone mixes short,
// similar keys poorly in its high bits); salting with the route name keeps two splits over the
// same users independent.
//
// Trace: one kRoute span "-> canary (weight 10/100, sticky user)".
//
// Rollout (docs/rollout.md): an optional `rollout:` block moves the share of one child, the
// candidate, through steps while gates on its own traffic hold (control/rollout.h; the server
// runs it, server/rollouts.h). Parsed and validated here, with the rest of the split:
//     rollout:
//       candidate: canary           # one of the children's routes
//       steps: [1, 5, 25, 50, 100]  # percent, increasing, ending at 100
//       hold_s: 600                 # per step
//       min_requests: 200           # candidate requests per step before a gate counts
//       start: auto                 # auto (default) | manual (POST /admin/rollouts/start)
//       evaluate_every_ms: 1000
//       gates: {max_success_drop: 0.02, max_p95_ratio: 1.5, max_cost_ratio: 1.2,
//               min_agreement: 0.9}  # at least one
// Every request records the child it went to in Trace::split_choices (typed, for the rollout).
//
// Knobs: one per child, "children[i].weight" (range [0, 100]), so a canary can be moved at
// runtime (negative values count as 0). When every weight is 0 at runtime, the first child
// answers. Moving a weight re-maps only the users near the moved boundary.
//
// Threading: built once; run() is const apart from reading the atomic weights once per request.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/rollout.h"
#include "routes/knob.h"
#include "routes/route.h"

namespace triage::routes {

// FNV-1a 64 of `data` followed by a splitmix64-style finaliser. Pure.
uint64_t mixed_fnv1a(std::string_view data);
// A uniform point in [0, 1) from a 64-bit hash (its high 53 bits).
double unit_interval(uint64_t hash);

enum class Sticky { kNone, kUser, kApiKey, kCohort };

class SplitRoute final : public Route, public Tunable {
 public:
  struct Child {
    Route* route = nullptr;  // owned by the RouteTable
    double weight = 0.0;
  };

  SplitRoute(std::string name, std::vector<Child> children, Sticky sticky,
             std::optional<control::RolloutSpec> rollout = std::nullopt);

  std::string_view kind() const override { return "split/1"; }
  const std::string& name() const override { return name_; }
  boost::asio::awaitable<Result<core::Completion>> run(const core::ChatRequest& req,
                                                       ExecContext& ctx,
                                                       core::StreamSink* sink) override;

  // The pure decision: index of the child for `req` under the current weights.
  size_t choose(const core::ChatRequest& req) const;
  // The point in [0, 1) that choose() places `req` at (depends on sticky and the route name).
  double point(const core::ChatRequest& req) const;
  // Index of the child covering `point` for `weights` (negative counted as 0; all 0 -> 0).
  static size_t pick(const std::vector<double>& weights, double point);

  double weight(size_t i) const { return weights_[i].load(std::memory_order_relaxed); }
  void set_weight(size_t i, double w) { weights_[i].store(w, std::memory_order_relaxed); }
  size_t size() const { return routes_.size(); }
  Route& child(size_t i) const { return *routes_[i]; }
  Sticky sticky() const { return sticky_; }
  // The weight child `i` had in the config file (the knobs move; this does not).
  double config_weight(size_t i) const { return config_weights_[i]; }
  // The `rollout:` block, or null.
  const control::RolloutSpec* rollout() const { return rollout_ ? &*rollout_ : nullptr; }

  std::vector<Knob*> knobs() override;

 private:
  class WeightKnob final : public Knob {
   public:
    WeightKnob(SplitRoute& owner, size_t index)
        : owner_(owner), index_(index), name_("children[" + std::to_string(index) + "].weight") {}
    std::string_view name() const override { return name_; }
    double get() const override { return owner_.weight(index_); }
    void set(double v) override { owner_.set_weight(index_, v); }
    std::pair<double, double> range() const override { return {0.0, 100.0}; }

   private:
    SplitRoute& owner_;
    size_t index_;
    std::string name_;
  };

  std::string name_;
  std::vector<Route*> routes_;
  std::unique_ptr<std::atomic<double>[]> weights_;
  std::vector<double> config_weights_;
  std::optional<control::RolloutSpec> rollout_;
  std::vector<std::unique_ptr<WeightKnob>> knobs_;
  Sticky sticky_;
};

// Registers `type: split` with RouteTable (idempotent).
void register_split_kind();

}  // namespace triage::routes

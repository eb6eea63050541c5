#pragma once
// Helpers for checks that call a model or route (verifier, agreement) and for checks with one
// threshold knob (similarity, logprob).
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <string>
#include <utility>

#include "common/result.h"
#include "config/yaml_util.h"
#include "core/chat.h"
#include "routes/check.h"
#include "routes/knob.h"
#include "routes/route.h"

namespace triage::checks {

// The route or model named by `field`, resolved through the route table being built
// (ctx.table). Throws config::ConfigError at `field` when the name is unknown or the check is
// built without a route table (e.g. a bare CheckRegistry::build()).
routes::Route& resolve_check_route(const config::Field& field, const routes::CheckContext& ctx);

// Runs `route` for `req` (never streaming) on behalf of a check. The model calls it makes
// append their spans, cost and waits to ctx.trace as usual, but the trace's answer attribution
// (model, tier, provider, label, confidence, synthesized), which model runtimes overwrite, is
// restored: the request's answer still comes from the route being checked.
boost::asio::awaitable<Result<core::Completion>> call_for_check(routes::Route& route,
                                                                const core::ChatRequest& req,
                                                                routes::ExecContext& ctx);

// A threshold knob kept in an atomic, for checks that pass when a score >= the threshold.
class ThresholdKnob final : public routes::Knob {
 public:
  // `step` > 0: a discrete knob (Knob::step()).
  ThresholdKnob(std::string name, double value, std::pair<double, double> range,
                double step = 0.0)
      : name_(std::move(name)), value_(value), range_(range), step_(step) {}
  std::string_view name() const override { return name_; }
  double get() const override { return value_.load(std::memory_order_relaxed); }
  void set(double v) override { value_.store(v, std::memory_order_relaxed); }
  std::pair<double, double> range() const override { return range_; }
  double step() const override { return step_; }

 private:
  const std::string name_;
  std::atomic<double> value_;
  const std::pair<double, double> range_;
  const double step_;
};

}  // namespace triage::checks

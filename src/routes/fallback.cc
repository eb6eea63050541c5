#include "routes/fallback.h"

#include <optional>

#include "config/yaml_util.h"
#include "routes/eligibility.h"
#include "routes/kind_util.h"

namespace triage::routes {

namespace {

// Passes deltas through and remembers whether any reached the client.
class WatchedSink final : public core::StreamSink {
 public:
  explicit WatchedSink(core::StreamSink& inner) : inner_(inner) {}
  boost::asio::awaitable<bool> write(const core::Delta& delta) override {
    wrote_ = true;
    co_return co_await inner_.write(delta);
  }
  boost::asio::awaitable<bool> flush() override { co_return co_await inner_.flush(); }
  bool wrote() const { return wrote_; }

 private:
  core::StreamSink& inner_;
  bool wrote_ = false;
};

const std::vector<ErrorCode> kFallbackable = {
    ErrorCode::kUpstreamError, ErrorCode::kUpstreamTimeout, ErrorCode::kUnavailable,
    ErrorCode::kRateLimited,   ErrorCode::kNotFound,        ErrorCode::kInternal,
};
const std::set<ErrorCode> kDefaultOn = {ErrorCode::kUpstreamError, ErrorCode::kUpstreamTimeout,
                                        ErrorCode::kUnavailable, ErrorCode::kRateLimited};

}  // namespace

boost::asio::awaitable<Result<core::Completion>> FallbackRoute::run(const core::ChatRequest& req,
                                                                    ExecContext& ctx,
                                                                    core::StreamSink* sink) {
  const SteadyTime t0 = SteadyClock::now();
  std::string attempts;
  std::optional<Error> last;
  std::string stop_reason;
  const size_t first_span = ctx.trace.spans.size();
  bool all_refused = true;  // every child so far was refused as ineligible
  for (size_t i = 0; i < children_.size(); ++i) {
    Route& child = *children_[i];
    std::optional<WatchedSink> watched;
    if (sink) watched.emplace(*sink);
    Result<core::Completion> r = co_await child.run(req, ctx, sink ? &*watched : nullptr);
    if (r) {
      core::Span span;
      span.kind = core::SpanKind::kRoute;
      span.name = name_;
      span.detail = std::string(kind()) + ": " + attempts + "'" + child.name() + "' answered";
      span.start_us = micros_between(ctx.start, t0);
      span.duration_us = micros_between(t0, SteadyClock::now());
      ctx.trace.spans.push_back(std::move(span));
      co_return r;
    }
    const ErrorCode code = r.error().code;
    // A child that cannot take the request is skipped whatever `on:` says, like an open
    // circuit (routes/eligibility.h).
    const bool refused = code == ErrorCode::kNoEligibleModel;
    all_refused = all_refused && refused;
    attempts += "'" + child.name() + (refused ? "' skipped (" : "' failed (") +
                std::string(error_code_name(code)) + "); ";
    last = std::move(r).error();
    if (!refused && !on_.count(code)) {
      stop_reason = "not retried on this error";
      break;
    }
    if (watched && watched->wrote()) {
      stop_reason = "it had already streamed part of its answer";
      break;
    }
    if (SteadyClock::now() >= ctx.deadline) {
      stop_reason = "the request deadline passed";
      break;
    }
  }
  core::Span span;
  span.kind = core::SpanKind::kRoute;
  span.name = name_;
  span.detail = std::string(kind()) + ": " + attempts +
                (stop_reason.empty() ? "no child left" : "stopped: " + stop_reason);
  span.start_us = micros_between(ctx.start, t0);
  span.duration_us = micros_between(t0, SteadyClock::now());
  span.ok = false;
  span.error = std::string(error_code_name(last->code));
  ctx.trace.spans.push_back(std::move(span));
  if (all_refused && children_.size() > 1) co_return no_eligible_error(name_, ctx, first_span);
  co_return std::move(*last);
}

std::unique_ptr<Route> build_fallback_route(const config::RouteSpec& spec, size_t,
                                            RouteTable& table) {
  config::MapReader r(spec.node, spec.path, table.config().path, spec.line);
  r.only({"name", "type", "children", "on"});
  std::vector<Route*> children;
  for (const config::Field& c : r["children"].items()) children.push_back(&resolve_child(table, c));
  if (children.size() < 2) {
    r["children"].fail("a fallback route needs at least two children (a list of routes or models)");
  }
  std::set<ErrorCode> on = kDefaultOn;
  config::Field on_field = r["on"];
  if (on_field.present()) {
    std::vector<std::string> names;
    for (ErrorCode c : kFallbackable) names.emplace_back(error_code_name(c));
    on.clear();
    for (const config::Field& item : on_field.items()) {
      const std::string name = item.one_of(names);
      for (ErrorCode c : kFallbackable) {
        if (error_code_name(c) == name) on.insert(c);
      }
    }
    if (on.empty()) on_field.fail("list at least one error code to fall back on");
  }
  return std::make_unique<FallbackRoute>(spec.name, std::move(children), std::move(on));
}

void register_fallback_kind() { RouteTable::register_kind("fallback", build_fallback_route); }

}  // namespace triage::routes

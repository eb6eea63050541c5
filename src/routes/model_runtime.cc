#include "routes/model_runtime.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>

#include "core/tokens.h"
#include "routes/eligibility.h"

namespace triage::routes {

namespace asio = boost::asio;

namespace {

const WallClock& wall_clock() {
  static const SystemWallClock clock;
  return clock;
}

control::RandomSource& random_source() {
  static control::ThreadLocalRandom rng;
  return rng;
}

control::RetryBudgetOptions budget_options(const config::RetryConfig& r) {
  control::RetryBudgetOptions o;
  o.ratio = r.budget_share;
  return o;
}

control::RetryOptions retry_options(const config::RetryConfig& r) {
  control::RetryOptions o;
  o.max_retries = r.max;
  o.base_backoff_ms = r.base_ms;
  o.max_backoff_ms = r.cap_ms;
  return o;
}

control::BalancerOptions balancer_options(const config::BreakerConfig& b) {
  control::BalancerOptions o;
  o.breaker.consecutive_failures = b.consecutive_failures;
  o.breaker.failure_rate = b.failure_rate;
  o.breaker.min_calls = b.min_calls;
  o.breaker.window_ms = b.window_ms;
  o.breaker.window_buckets = static_cast<int>(std::clamp<int64_t>(b.window_ms / 1000, 1, 60));
  o.breaker.cool_down_ms = b.cool_down_ms;
  o.breaker.max_cool_down_ms = std::max<int64_t>(b.cool_down_ms, o.breaker.max_cool_down_ms);
  return o;
}

std::vector<ModelDeployment> single(const config::Model& model,
                                    std::unique_ptr<providers::ModelClient> client) {
  std::vector<ModelDeployment> out;
  out.push_back(ModelDeployment{model.name, std::move(client)});
  return out;
}

int64_t steady_ms(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

int64_t ceil_seconds(int64_t ms) { return std::max<int64_t>(1, (ms + 999) / 1000); }

}  // namespace

std::string failure_reason(const control::UpstreamFailure& f) {
  switch (f.kind) {
    case control::FailureKind::kConnect:
      return "connect";
    case control::FailureKind::kReset:
      return "reset";
    case control::FailureKind::kTimeout:
      return "timeout";
    case control::FailureKind::kMalformed:
      return "malformed";
    case control::FailureKind::kHttpStatus:
      return "http_" + std::to_string(f.http_status);
  }
  return "unknown";
}

ModelRuntime::ModelRuntime(const config::Model& model,
                           std::unique_ptr<providers::ModelClient> client)
    : ModelRuntime(model, single(model, std::move(client))) {}

ModelRuntime::ModelRuntime(const config::Model& model, std::vector<ModelDeployment> deployments)
    : model_(model),
      deployments_(std::move(deployments)),
      retry_options_(retry_options(model.resilience.retries)),
      gate_(model.max_concurrency) {
  // Deployments built from the model's `deployments:` list (in order) have their own limits.
  const bool configured = model.deployments.size() == deployments_.size();
  for (std::size_t i = 0; i < deployments_.size(); ++i) {
    const int64_t limit = configured ? model.deployments[i].max_concurrency : 0;
    limits_.push_back(std::make_unique<DeploymentLimits>(
        limit, budget_options(model.resilience.retries), wall_clock()));
  }
  std::vector<std::string> names;
  for (const ModelDeployment& d : deployments_) names.push_back(d.name);
  balancer_ = std::make_unique<control::Balancer>(
      model_.name, std::move(names), balancer_options(model.resilience.breaker), wall_clock(),
      random_source(), [this](const control::BreakerTransition& t) { on_transition(t); });
}

bool ModelRuntime::available() const {
  for (std::size_t i = 0; i < balancer_->size(); ++i) {
    if (balancer_->breaker(i).would_allow()) return true;
  }
  return false;
}

void ModelRuntime::set_breaker_observer(BreakerObserver observer) {
  std::lock_guard lock(observer_mu_);
  observer_ = std::move(observer);
}

void ModelRuntime::on_transition(const control::BreakerTransition& t) {
  spdlog::warn("circuit of model '{}' deployment '{}': {} -> {} ({}), cool-down {} ms",
               model_.name, t.breaker, control::breaker_state_name(t.from),
               control::breaker_state_name(t.to), control::breaker_reason_name(t.reason),
               t.cool_down_ms);
  std::lock_guard lock(observer_mu_);
  if (observer_) observer_(model_.name, t);
}

asio::awaitable<Result<core::Completion>> ModelRuntime::call(const core::ChatRequest& req,
                                                             ExecContext& ctx,
                                                             core::StreamSink* sink) {
  if (std::optional<Error> refused = refuse_ineligible(model_, req, ctx)) co_return *refused;
  core::Span span;
  span.kind = core::SpanKind::kModelCall;
  span.name = model_.name;
  span.detail = std::string(deployments_.front().client->name());
  span.tier = model_.tier;
  const SteadyTime t0 = SteadyClock::now();
  span.start_us = micros_between(ctx.start, t0);
  // Named before the call so that a stream's headers and a failure's row say which model.
  ctx.trace.model = model_.name;
  ctx.trace.tier = model_.tier;
  ctx.trace.provider = span.detail;

  if (ctx.admission) {
    Result<void> admitted_call = co_await ctx.admission->admit(model_, req);
    if (!admitted_call) {
      span.ok = false;
      span.error = std::string(error_code_name(admitted_call.error().code));
      span.detail = admitted_call.error().message;
      ctx.trace.spans.push_back(std::move(span));
      co_return admitted_call.error();
    }
  }
  const SteadyTime queue_deadline =
      std::min(ctx.deadline, t0 + std::chrono::milliseconds(model_.max_queue_ms));
  const bool admitted = co_await gate_.acquire(queue_deadline);
  if (!admitted) {
    auto shed_result = co_await shed(req, ctx, sink, std::move(span), t0);
    co_return shed_result;
  }
  GateSlot slot(&gate_);
  const SteadyTime t1 = SteadyClock::now();
  span.queue_us = micros_between(t0, t1);
  ctx.trace.queue_us += span.queue_us;

  bool no_slot = false;
  Result<core::Completion> result =
      co_await call_upstream(req, ctx, sink, span, queue_deadline, no_slot);
  if (no_slot) {
    auto shed_result = co_await shed(req, ctx, sink, std::move(span), t0);
    co_return shed_result;
  }
  if (!result) {
    span.ok = false;
    span.error = std::string(error_code_name(result.error().code));
    span.duration_us = micros_between(t0, SteadyClock::now());
    ctx.trace.spans.push_back(std::move(span));
    co_return result;
  }

  core::Completion& c = result.value();
  c.model = model_.name;
  if (c.usage.prompt_tokens == 0 && c.usage.completion_tokens == 0) {
    for (const auto& m : req.messages) c.usage.prompt_tokens += core::estimate_tokens(m.text);
    c.usage.completion_tokens = core::estimate_tokens(c.content);
    c.usage.estimated = true;
  }
  span.tokens_in = c.usage.prompt_tokens;
  span.tokens_out = c.usage.completion_tokens;
  span.tokens_estimated = c.usage.estimated;
  span.cost_usd = config::cost_usd(model_.prices, c.usage.prompt_tokens,
                                   c.usage.completion_tokens, c.usage.cached_prompt_tokens);
  span.duration_us = micros_between(t0, SteadyClock::now());

  core::Trace& t = ctx.trace;
  t.tokens_in += span.tokens_in;
  t.tokens_out += span.tokens_out;
  t.tokens_estimated = t.tokens_estimated || span.tokens_estimated;
  t.cost_usd += span.cost_usd;
  t.model = model_.name;
  t.tier = model_.tier;
  t.provider = span.detail;
  t.synthesized = c.synthesized;
  if (!c.label.empty()) {
    t.label = c.label;
    t.confidence = c.confidence;
  }
  span.grade = c.grade;  // recorded grade (replay score_column), for the report
  if (t.keep_payloads) span.output = c.content;  // store.keep_payloads (review, exports)
  t.spans.push_back(std::move(span));
  co_return result;
}

// The gate had no slot before the queue deadline: the model's overflow alternative answers, or
// the call fails with 503 + Retry-After. Which one is on the span (`shed`).
asio::awaitable<Result<core::Completion>> ModelRuntime::shed(const core::ChatRequest& req,
                                                             ExecContext& ctx,
                                                             core::StreamSink* sink,
                                                             core::Span span, SteadyTime t0) {
  span.ok = false;
  span.error = std::string(error_code_name(ErrorCode::kUnavailable));
  const int64_t counted_us = span.queue_us;  // the model gate's wait, when a deployment shed it
  span.queue_us = micros_between(t0, SteadyClock::now());
  span.duration_us = span.queue_us;
  ctx.trace.queue_us += span.queue_us - counted_us;
  // An overflow chain that comes back to a model already shed in this request ends here.
  bool looped = false;
  for (const core::Span& s : ctx.trace.spans) {
    if (s.kind == core::SpanKind::kModelCall && s.shed == "overflow" &&
        overflow_ != nullptr && s.name == overflow_->model().name)
      looped = true;
  }
  const bool overflow = overflow_ != nullptr && overflow_ != this && !looped &&
                        SteadyClock::now() < ctx.deadline;
  span.shed = overflow ? "overflow" : "rejected";
  ctx.trace.spans.push_back(std::move(span));
  spdlog::warn("model '{}' is at its concurrency limit ({} in flight, {} waiting): {}",
               model_.name, gate_.in_use(), gate_.waiting(),
               overflow ? "sent to overflow model '" + overflow_->model().name + "'"
                        : std::string("rejected"));
  if (overflow) {
    auto answer = co_await overflow_->call(req, ctx, sink);
    co_return answer;
  }
  std::string limits = "concurrency limit " + std::to_string(model_.max_concurrency);
  for (std::size_t i = 0; i < limits_.size(); ++i) {
    if (limits_[i]->gate.limit() > 0)
      limits += ", deployment '" + deployments_[i].name + "' " + std::to_string(limits_[i]->gate.limit());
  }
  Error e = make_error(ErrorCode::kUnavailable,
                       "model '" + model_.name +
                           "' is at its concurrency limit and no slot freed up in time; retry after 1 s",
                       limits + ", queue wait limit " + std::to_string(model_.max_queue_ms) + " ms");
  e.retry_after_s = 1;
  co_return e;
}

control::DeploymentSet ModelRuntime::busy_or(std::optional<std::size_t> failed) const {
  control::DeploymentSet out;
  if (failed) out.add(*failed);
  for (std::size_t i = 0; i < limits_.size(); ++i) {
    if (limits_[i]->gate.full()) out.add(i);
  }
  return out;
}

// Attempts on the model's deployments until one answers, the failure is not retryable, or the
// retry policy (attempts, deadline, budget) says no. Records attempts, breaker state and the
// deployment on `span`; upstream time on the trace.
asio::awaitable<Result<core::Completion>> ModelRuntime::call_upstream(
    const core::ChatRequest& req, ExecContext& ctx, core::StreamSink* sink, core::Span& span,
    SteadyTime queue_deadline, bool& no_slot) {
  int retries_done = 0;
  std::optional<std::size_t> avoid;
  std::optional<Error> last_error;  // the failure a retry is for
  for (;;) {
    auto picked = balancer_->pick(busy_or(avoid));
    if (auto* all_open = std::get_if<control::AllOpen>(&picked)) {
      span.breaker = "open";
      co_return control::all_open_error(*all_open);
    }
    control::Balancer::Call call = std::move(std::get<control::Balancer::Call>(picked));
    DeploymentLimits& limits = *limits_[call.index()];
    // Every deployment can be at its own limit: wait for this one's slot like for the model's.
    const SteadyTime wait_from = SteadyClock::now();
    const bool slot_taken = co_await limits.gate.acquire(queue_deadline);
    const int64_t waited_us = micros_between(wait_from, SteadyClock::now());
    span.queue_us += waited_us;
    ctx.trace.queue_us += waited_us;
    if (!slot_taken) {
      call.neutral();
      if (!last_error) {
        no_slot = true;
        co_return make_error(ErrorCode::kUnavailable, "no deployment slot");
      }
      span.no_retry = std::string(control::no_retry_reason_name(control::NoRetryReason::kNoCapacity));
      co_return *last_error;
    }
    GateSlot deployment_slot(&limits.gate);
    if (call.probe()) span.breaker = "half_open";
    if (retries_done == 0) limits.budget.record_call();
    providers::ModelClient& client = *deployments_[call.index()].client;
    span.detail = std::string(client.name());
    if (deployments_.size() > 1) span.deployment = call.deployment();

    const SteadyTime sent = SteadyClock::now();
    const SteadyTime deadline =
        std::min(ctx.deadline, sent + std::chrono::milliseconds(model_.timeout_ms));
    providers::CallStats stats;
    // Not `sink ? co_await a : co_await b`: GCC 12 miscompiles co_await inside ?: operands.
    Result<core::Completion> result = make_error(ErrorCode::kInternal, "model call did not run");
    if (sink) {
      result = co_await client.stream(req, deadline, stats, *sink);
    } else {
      result = co_await client.complete(req, deadline, stats);
    }
    const int64_t call_us = micros_between(sent, SteadyClock::now());
    span.ttfb_us = stats.ttfb_us;
    if (ctx.trace.upstream_us == 0 && ctx.trace.upstream_ttfb_us == 0) {
      ctx.trace.upstream_ttfb_us = stats.ttfb_us;
    }
    ctx.trace.upstream_us += call_us;
    if (result) {
      if (sink) {
        call.succeeded_after(stats.ttfb_us / 1000);  // long answers must not look slow
      } else {
        call.succeeded();
      }
      co_return result;
    }
    Error error = std::move(result).error();
    if (!stats.failure) {  // cancelled, or failed before reaching for the upstream
      call.neutral();
      co_return error;
    }
    const control::UpstreamFailure failure = *stats.failure;
    const std::string reason = failure_reason(failure);
    if (control::counts_against_breaker(failure)) {
      call.failed();
    } else {
      call.neutral();
    }
    spdlog::warn("upstream call failed: model '{}' deployment '{}' attempt {} ({}): {}{}{}",
                 model_.name, call.deployment(), retries_done + 1, reason, error.message,
                 error.internal.empty() ? "" : " | ", error.internal);
    if (failure.retry_after_ms && *failure.retry_after_ms > 0 &&
        (error.code == ErrorCode::kRateLimited || error.code == ErrorCode::kUnavailable)) {
      error.retry_after_s = ceil_seconds(*failure.retry_after_ms);
    }
    const SteadyTime now = SteadyClock::now();
    const auto expected = static_cast<int64_t>(balancer_->latency_ms(call.index()));
    const control::RetryDecision decision =
        control::decide_retry(retry_options_, failure, retries_done, steady_ms(now),
                              steady_ms(ctx.deadline), expected, random_source(), &limits.budget);
    if (!decision.retry) {
      span.no_retry = std::string(control::no_retry_reason_name(decision.reason));
      co_return error;
    }
    span.retries.push_back(reason);
    avoid = call.index();
    ++retries_done;
    last_error = std::move(error);
    deployment_slot.reset();  // not held through the backoff
    asio::steady_timer backoff(co_await asio::this_coro::executor);
    backoff.expires_after(std::chrono::milliseconds(decision.delay_ms));
    co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace triage::routes

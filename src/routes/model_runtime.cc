#include "routes/model_runtime.h"

#include <algorithm>
#include <string>

#include "core/tokens.h"

namespace triage::routes {


ModelRuntime::ModelRuntime(const config::Model& model,
                           std::unique_ptr<providers::ModelClient> client)
    : model_(model), client_(std::move(client)), gate_(model.max_concurrency) {}

boost::asio::awaitable<Result<core::Completion>> ModelRuntime::call(const core::ChatRequest& req,
                                                                    ExecContext& ctx,
                                                                    core::StreamSink* sink) {
  core::Span span;
  span.kind = core::SpanKind::kModelCall;
  span.name = model_.name;
  span.detail = std::string(client_->name());
  span.tier = model_.tier;
  const SteadyTime t0 = SteadyClock::now();
  span.start_us = micros_between(ctx.start, t0);
  // Named before the call so that a stream's headers and a failure's row say which model.
  ctx.trace.model = model_.name;
  ctx.trace.tier = model_.tier;
  ctx.trace.provider = std::string(client_->name());

  auto finish_failed = [&](Error e) -> Result<core::Completion> {
    span.ok = false;
    span.error = std::string(error_code_name(e.code));
    span.duration_us = micros_between(t0, SteadyClock::now());
    ctx.trace.spans.push_back(std::move(span));
    return e;
  };

  const SteadyTime queue_deadline =
      std::min(ctx.deadline, t0 + std::chrono::milliseconds(model_.max_queue_ms));
  if (!co_await gate_.acquire(queue_deadline)) {
    co_return finish_failed(make_error(
        ErrorCode::kUnavailable,
        "model '" + model_.name + "' is at its concurrency limit (" +
            std::to_string(model_.max_concurrency) + " in flight) and no slot freed up in time; "
            "retry later or raise max_concurrency"));
  }
  GateSlot slot(&gate_);
  const SteadyTime t1 = SteadyClock::now();
  span.queue_us = micros_between(t0, t1);
  ctx.trace.queue_us += span.queue_us;

  const SteadyTime deadline =
      std::min(ctx.deadline, t1 + std::chrono::milliseconds(model_.timeout_ms));
  providers::CallStats stats;
  // Not `sink ? co_await a : co_await b`: GCC 12 miscompiles co_await inside ?: operands.
  Result<core::Completion> result = make_error(ErrorCode::kInternal, "model call did not run");
  if (sink) {
    result = co_await client_->stream(req, deadline, stats, *sink);
  } else {
    result = co_await client_->complete(req, deadline, stats);
  }
  const int64_t call_us = micros_between(t1, SteadyClock::now());
  span.ttfb_us = stats.ttfb_us;
  if (ctx.trace.upstream_us == 0 && ctx.trace.upstream_ttfb_us == 0) {
    ctx.trace.upstream_ttfb_us = stats.ttfb_us;
  }
  ctx.trace.upstream_us += call_us;
  if (!result) co_return finish_failed(std::move(result).error());

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

}  // namespace triage::routes

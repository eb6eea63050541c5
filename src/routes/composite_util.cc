#include "routes/composite_util.h"

#include "routes/route_table.h"

namespace triage::routes {

core::ChatRequest sub_request(const core::ChatRequest& base, std::string prompt) {
  core::ChatRequest r;
  r.model = base.model;
  r.meta = base.meta;
  r.temperature = base.temperature;
  r.top_p = base.top_p;
  r.messages.push_back({"user", std::move(prompt), {}});
  return r;
}

void attribute_answer(ExecContext& ctx, const RouteTable& table, const core::Completion& answer) {
  ModelRuntime* m = table.find_model(answer.model);
  if (!m) return;
  ctx.trace.model = m->model().name;
  ctx.trace.tier = m->model().tier;
  ctx.trace.provider = std::string(m->client().name());
}

boost::asio::awaitable<bool> write_whole(core::StreamSink& sink, const core::Completion& answer) {
  core::Delta d;
  d.role = "assistant";
  d.content = answer.content;
  if (!answer.tool_calls.is_null()) d.tool_calls = &answer.tool_calls;
  co_return co_await sink.write(d);
}

void push_route_span(ExecContext& ctx, const std::string& name, std::string detail, SteadyTime t0,
                     bool ok, std::string error) {
  core::Span span;
  span.kind = core::SpanKind::kRoute;
  span.name = name;
  span.detail = std::move(detail);
  span.start_us = micros_between(ctx.start, t0);
  span.duration_us = micros_between(t0, SteadyClock::now());
  span.ok = ok;
  span.error = std::move(error);
  ctx.trace.spans.push_back(std::move(span));
}

}  // namespace triage::routes

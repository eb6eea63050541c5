#include "server/sse_sink.h"

#include <fmt/format.h>

#include "api/errors.h"
#include "core/tokens.h"

namespace triage::server {

namespace asio = boost::asio;

std::string format_usd(double usd) { return fmt::format("{:.10f}", usd); }

net::HeaderList triage_headers(const core::Trace& trace) {
  net::HeaderList h;
  h.reserve(7);
  h.emplace_back("x-request-id", trace.request_id);
  if (!trace.model.empty()) h.emplace_back("x-triage-model", trace.model);
  if (!trace.route.empty()) h.emplace_back("x-triage-route", trace.route);
  if (!trace.tier.empty()) h.emplace_back("x-triage-tier", trace.tier);
  if (trace.config_version > 0) {
    h.emplace_back("x-triage-config-version", std::to_string(trace.config_version));
  }
  if (trace.cache != core::CacheOutcome::kNone) {
    h.emplace_back("x-triage-cache", std::string(core::cache_outcome_name(trace.cache)));
  }
  return h;
}

asio::awaitable<bool> SseSink::start() {
  started_ = true;
  renderer_->begin(trace_.request_id, created_s_, trace_.model, pending_);
  const net::HeaderList headers = triage_headers(trace_);  // must outlive the awaited write
  co_return co_await out_.start_stream(200, "text/event-stream", headers, "x-triage-cost-usd");
}

asio::awaitable<bool> SseSink::write(const core::Delta& delta) {
  // The awaited result is assigned first and tested afterwards: GCC 12 miscompiles a co_await
  // nested in a conditionally skipped block that co_returns (ud2 on resume).
  bool alive = true;
  if (!started_) alive = co_await start();
  if (!alive) co_return false;
  if (!delta.content.empty() || delta.tool_calls) {
    sent_tokens_ += core::estimate_tokens(delta.content);
    renderer_->delta(delta, pending_);
  }
  if (delta.more) co_return true;  // the provider flushes at the end of its batch
  co_return co_await flush();
}

asio::awaitable<bool> SseSink::flush() {
  if (pending_.empty()) co_return true;
  std::string events;
  events.swap(pending_);
  co_return co_await out_.write_chunk(events);
}

asio::awaitable<bool> SseSink::finish(const core::Completion& c) {
  // The awaited result is assigned first and tested afterwards: GCC 12 miscompiles a co_await
  // nested in a conditionally skipped block that co_returns (ud2 on resume).
  bool alive = true;
  if (!started_) alive = co_await start();
  if (!alive) co_return false;
  std::string tail;
  tail.swap(pending_);
  core::complete_latency_split(trace_, micros_between(start_, SteadyClock::now()));
  const api::TriageInfo info = api::triage_info(trace_);
  renderer_->end(c, info, tail);
  net::HeaderList trailers;
  trailers.emplace_back("x-triage-cost-usd", format_usd(trace_.cost_usd));
  co_return co_await out_.finish_stream(trailers, tail);
}

asio::awaitable<bool> SseSink::fail(const Error& e) {
  std::string events;
  events.swap(pending_);
  renderer_->error(e, events);
  net::HeaderList trailers;
  trailers.emplace_back("x-triage-cost-usd", format_usd(trace_.cost_usd));
  co_return co_await out_.finish_stream(trailers, events);
}

}  // namespace triage::server

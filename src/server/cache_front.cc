#include "server/cache_front.h"

#include <algorithm>
#include <cctype>

#include "cache/cache_key.h"
#include "server/sse_sink.h"

namespace triage::server {

namespace {

// The directives of a Cache-Control header, lower-cased ("no-cache", "no-store", ...).
bool has_directive(std::string_view header, std::string_view directive) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    item = item.substr(0, item.find('='));
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.size() == directive.size() &&
        std::equal(item.begin(), item.end(), directive.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return true;
    }
  }
  return false;
}

}  // namespace

CacheFront::CacheFront(const config::Config& cfg, std::string version)
    : version_(std::move(version)) {
  for (const config::Model& m : cfg.models) {
    if (m.cache) by_name_.emplace(m.name, std::make_unique<cache::ResponseCache>(*m.cache));
  }
  for (const config::RouteSpec& r : cfg.routes) {
    if (r.cache) by_name_.emplace(r.name, std::make_unique<cache::ResponseCache>(*r.cache));
  }
}

cache::ResponseCache* CacheFront::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

CachePlan CacheFront::plan(const core::ChatRequest& req, std::string_view scope,
                           std::string_view cache_control) const {
  CachePlan p;
  cache::ResponseCache* c = find(req.model);
  if (!c) return p;
  p.outcome = core::CacheOutcome::kBypass;
  if (has_directive(cache_control, "no-store")) return p;
  if (cache::samples(req) && !c->config().allow_sampling) return p;
  p.cache = c;
  p.key = cache::cache_key(req, req.model, version_, scope.empty() ? "anonymous" : scope);
  p.write = true;
  if (has_directive(cache_control, "no-cache")) return p;  // a fresh answer refreshes the entry
  p.read = true;
  p.outcome = core::CacheOutcome::kMiss;
  return p;
}

int64_t cache_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

cache::AnswerPtr storable_answer(const core::Trace& trace, const core::Completion& answer) {
  if (trace.synthesized || answer.synthesized || !trace.error_code.empty()) return nullptr;
  for (core::ReviewFlag f : trace.flags) {
    if (f == core::ReviewFlag::kFinalChecksFailed || f == core::ReviewFlag::kVerificationFailed ||
        f == core::ReviewFlag::kEnsembleNoVote || f == core::ReviewFlag::kJudgeFailed ||
        f == core::ReviewFlag::kFuseFailed) {
      return nullptr;  // a degraded answer
    }
  }
  for (const core::Span& s : trace.spans) {
    if (s.shed == "overflow") return nullptr;  // not the model the route asked for
  }
  auto a = std::make_shared<cache::CachedAnswer>();
  a->completion = answer;
  a->model = trace.model;
  a->tier = trace.tier;
  a->provider = trace.provider;
  a->tokens_in = trace.tokens_in;
  a->tokens_out = trace.tokens_out;
  a->tokens_estimated = trace.tokens_estimated;
  a->cost_usd = trace.cost_usd;
  return a;
}

void record_hit(core::Trace& trace, const cache::CachedAnswer& answer) {
  trace.cache = core::CacheOutcome::kHit;
  trace.model = answer.model;
  trace.tier = answer.tier;
  trace.provider = answer.provider;
  trace.tokens_in = answer.tokens_in;
  trace.tokens_out = answer.tokens_out;
  trace.tokens_estimated = answer.tokens_estimated;
  trace.cost_usd = 0.0;
  trace.finish_reason = answer.completion.finish_reason;
  if (trace.keep_payloads) trace.response_text = answer.completion.content;
}

boost::asio::awaitable<bool> send_hit(net::ResponseWriter& out, core::Trace& trace,
                                      SteadyTime start, const core::ChatRequest& req,
                                      const api::Dialect& dialect,
                                      const cache::CachedAnswer& answer) {
  const int64_t created_s = trace.time_ms / 1000;
  if (!req.stream) {
    core::complete_latency_split(trace, micros_between(start, SteadyClock::now()));
    std::string body = dialect.render(req, api::response_info(trace, created_s), answer.completion);
    net::HeaderList headers = triage_headers(trace);
    headers.emplace_back("x-triage-cost-usd", format_usd(trace.cost_usd));
    const bool sent = co_await out.send(200, "application/json", headers, std::move(body));
    co_return sent;
  }
  SseSink sink(out, trace, start, created_s, dialect.stream(req));
  core::Delta d;
  d.role = "assistant";
  d.content = answer.completion.content;
  if (!answer.completion.tool_calls.is_null()) d.tool_calls = &answer.completion.tool_calls;
  const bool alive = co_await sink.write(d);
  if (!alive) co_return false;
  const bool finished = co_await sink.finish(answer.completion);
  co_return finished;
}

}  // namespace triage::server

#include "routes/shadow_route.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>

#include "config/yaml_util.h"
#include "routes/composite_util.h"
#include "routes/decider.h"
#include "routes/ensemble.h"
#include "routes/kind_util.h"
#include "routes/route_table.h"
#include "routes/split_route.h"

namespace triage::routes {

namespace asio = boost::asio;

namespace {

std::string normalize_space(const std::string& s) {
  std::string out;
  bool pending_space = false;
  for (unsigned char c : s) {
    if (std::isspace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(static_cast<char>(c));
  }
  return out;
}

}  // namespace

bool agrees(const std::string& a, const std::string& b) {
  if (normalize_space(a) == normalize_space(b)) return true;
  const std::optional<std::string> va = extract_vote(a, nullptr);
  const std::optional<std::string> vb = extract_vote(b, nullptr);
  return va && vb && *va == *vb;
}

ShadowRoute::ShadowRoute(std::string name, Route& primary, std::vector<Route*> candidates,
                         double sample, bool decide_only)
    : name_(std::move(name)),
      primary_(primary),
      candidates_(std::move(candidates)),
      sample_(sample),
      decide_only_(decide_only) {}

bool ShadowRoute::sampled(const core::ChatRequest& req) const {
  if (sample_ <= 0.0) return false;
  if (sample_ >= 1.0) return true;
  std::string salted = name_;
  salted.push_back('\0');
  salted += req.meta.request_id;
  return unit_interval(mixed_fnv1a(salted)) < sample_;
}

asio::awaitable<Result<core::Completion>> ShadowRoute::run(const core::ChatRequest& req,
                                                           ExecContext& ctx,
                                                           core::StreamSink* sink) {
  const bool in_sample = sampled(req);
  if (in_sample && decide_only_) {
    for (Route* c : candidates_) {
      const SteadyTime t0 = SteadyClock::now();
      // Validated at load: every candidate is a Decider.
      const RouteDecision d = dynamic_cast<const Decider&>(*c).decide_request(req);
      // The detail is for people; the typed field is what the store's readers use.
      push_route_span(ctx, c->name(), "shadow decision: " + d.target + " (" + d.detail + ")", t0);
      ctx.trace.spans.back().shadow_decision = d.target;
      ctx.trace.spans.back().router_version = d.router_version;
      ctx.trace.routing_us += ctx.trace.spans.back().duration_us;
    }
  }
  Result<core::Completion> result = co_await primary_.run(req, ctx, sink);
  if (!in_sample || decide_only_ || !result || !ctx.emit_derived || candidates_.empty()) {
    co_return result;
  }
  Parent parent{ctx.trace.request_id.empty() ? req.meta.request_id : ctx.trace.request_id,
                ctx.trace.api_key_id,
                ctx.trace.cohort,
                ctx.trace.category,
                ctx.trace.user,
                ctx.trace.keep_payloads,
                ctx.trace.prompt_json,
                ctx.trace.split_choices};
  auto executor = co_await asio::this_coro::executor;
  // Detached: not awaited, so the primary's answer goes out without waiting for the shadows.
  asio::co_spawn(executor,
                 run_candidates(req, result->content, std::move(parent), ctx.emit_derived,
                                ctx.deadline - ctx.start),
                 asio::detached);
  co_return result;
}

asio::awaitable<void> ShadowRoute::run_candidates(core::ChatRequest req,
                                                  std::string primary_answer, Parent parent,
                                                  std::function<void(core::Trace&&)> emit,
                                                  SteadyClock::duration budget) const {
  // co_spawn dispatches, which may start this coroutine inline on the request's thread: yield
  // first so the request finishes (and is answered) before any shadow work is done.
  auto executor = co_await asio::this_coro::executor;
  co_await asio::post(executor, asio::use_awaitable);
  req.stream = false;
  req.include_usage = false;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    Route& candidate = *candidates_[i];
    core::Trace trace;
    trace.request_id = core::shadow_request_id(parent.request_id, i);
    trace.time_ms = unix_time_ms();
    trace.api_key_id = parent.api_key_id;
    trace.cohort = parent.cohort;
    trace.category = parent.category;
    trace.user = parent.user;
    trace.requested_model = candidate.name();
    trace.route = name_;
    trace.flags.push_back(core::ReviewFlag::kShadow);
    trace.keep_payloads = parent.keep_payloads;
    trace.prompt_json = parent.prompt_json;
    trace.split_choices = parent.split_choices;

    const SteadyTime start = SteadyClock::now();
    ExecContext ctx{trace, start, start + budget};
    Result<core::Completion> answer = co_await candidate.run(req, ctx, nullptr);
    const SteadyTime t0 = SteadyClock::now();
    if (answer) {
      trace.finish_reason = answer->finish_reason;
      if (trace.keep_payloads) trace.response_text = answer->content;
      const bool same = agrees(primary_answer, answer->content);
      push_route_span(ctx, name_, same ? "agrees with primary" : "differs from primary", t0);
      ctx.trace.spans.back().agrees = same;
    } else {
      trace.error_code = std::string(error_code_name(answer.error().code));
      trace.error_message = answer.error().message;
      push_route_span(ctx, name_, "candidate failed", t0, false, trace.error_code);
    }
    trace.total_us = micros_between(start, SteadyClock::now());
    emit(std::move(trace));
  }
}

namespace {

std::unique_ptr<Route> build_shadow_route(const config::RouteSpec& spec, size_t /*index*/,
                                          RouteTable& table) {
  const config::Config& cfg = table.config();
  config::MapReader r(spec.node, spec.path, cfg.path, spec.line);
  r.only({"name", "type", "primary", "candidates", "sample", "decide_only"});
  Route& primary = resolve_child(table, r["primary"]);
  const config::Field cands = r["candidates"];
  const std::vector<config::Field> items = cands.items();
  if (items.empty()) cands.fail("a shadow route needs at least one candidate");
  const bool decide_only = r["decide_only"].get<bool>(false);
  std::vector<Route*> candidates;
  for (const config::Field& item : items) {
    Route& c = resolve_child(table, item);
    if (decide_only && !dynamic_cast<const Decider*>(&c)) {
      item.fail("'" + c.name() + "' (" + std::string(c.kind()) +
                ") cannot decide without calling a model; with decide_only: true every "
                "candidate must be a threshold, classify, rules or predict route");
    }
    candidates.push_back(&c);
  }
  const double sample = r["sample"].get<double>(1.0, config::Range::between(0, 1));
  return std::make_unique<ShadowRoute>(spec.name, primary, std::move(candidates), sample,
                                       decide_only);
}

}  // namespace

void register_shadow_kind() { RouteTable::register_kind("shadow", build_shadow_route); }

}  // namespace triage::routes

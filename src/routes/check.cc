#include "routes/check.h"

#include <algorithm>
#include <map>

namespace triage::routes {

namespace {

std::map<std::string, CheckFactory, std::less<>>& factories() {
  static std::map<std::string, CheckFactory, std::less<>> f;
  return f;
}

}  // namespace

boost::asio::awaitable<Verdict> run_traced(Check& check, const core::ChatRequest& req,
                                           const core::Completion& answer, ExecContext& ctx) {
  const SteadyTime t0 = SteadyClock::now();
  const int64_t waited_before = ctx.trace.queue_us + ctx.trace.upstream_us;
  const double cost_before = ctx.trace.cost_usd;
  Verdict v = co_await check.run(req, answer, ctx);
  const int64_t duration = micros_between(t0, SteadyClock::now());
  const int64_t waited = ctx.trace.queue_us + ctx.trace.upstream_us - waited_before;

  core::Span span;
  span.kind = core::SpanKind::kCheck;
  span.name = std::string(check.name());
  span.detail = v.reason;
  span.ok = v.pass;
  if (!v.pass) span.error = "check_failed";
  span.start_us = micros_between(ctx.start, t0);
  span.duration_us = duration;
  span.cost_usd = ctx.trace.cost_usd - cost_before;  // model calls the check made
  ctx.trace.spans.push_back(std::move(span));
  ctx.trace.routing_us += std::max<int64_t>(0, duration - waited);
  co_return v;
}

boost::asio::awaitable<ChecksOutcome> run_checks(const CheckList& checks,
                                                 const core::ChatRequest& req,
                                                 const core::Completion& answer,
                                                 ExecContext& ctx) {
  const std::string model = ctx.trace.model, tier = ctx.trace.tier,
                    provider = ctx.trace.provider;
  ChecksOutcome out;
  for (const auto& check : checks) {
    Verdict v = co_await run_traced(*check, req, answer, ctx);
    if (!v.pass) {
      out.pass = false;
      out.why = std::string(check->name()) + ": " + v.reason;
      break;
    }
  }
  ctx.trace.model = model;
  ctx.trace.tier = tier;
  ctx.trace.provider = provider;
  co_return out;
}

bool needs_logprobs(const CheckList& checks) {
  return std::any_of(checks.begin(), checks.end(),
                     [](const auto& c) { return c->needs_logprobs(); });
}

std::optional<core::ChatRequest> asking_for_logprobs(const core::ChatRequest& req) {
  if (req.body.contains("logprobs")) return std::nullopt;
  std::optional<core::ChatRequest> out(req);
  out->body["logprobs"] = true;
  return out;
}

void CheckRegistry::add(std::string type, CheckFactory factory) {
  factories()[std::move(type)] = std::move(factory);
}

std::vector<std::string> CheckRegistry::types() {
  std::vector<std::string> out;
  for (const auto& [k, f] : factories()) out.push_back(k);
  return out;
}

std::unique_ptr<Check> CheckRegistry::build(const config::Field& item, const CheckContext& ctx) {
  if (!item.present()) item.fail("expected a check (a type name or a mapping with `type:`)");
  if (item.node().IsScalar()) {
    const std::string type = item.node().Scalar();
    auto it = factories().find(type);
    if (it == factories().end()) {
      item.fail("unknown check type '" + type + "'" + config::suggest(type, types()));
    }
    // A bare name: the same factory over an empty mapping, so defaults apply and required
    // fields are reported at this item.
    config::MapReader empty(YAML::Node(YAML::NodeType::Map), item.path(), item.file(),
                            item.line());
    return it->second(empty, ctx);
  }
  config::MapReader r = item.map();
  config::Field type_field = r["type"];
  const std::string type = type_field.as<std::string>();
  auto it = factories().find(type);
  if (it == factories().end()) {
    type_field.fail("unknown check type '" + type + "'" + config::suggest(type, types()));
  }
  return it->second(r, ctx);
}

}  // namespace triage::routes

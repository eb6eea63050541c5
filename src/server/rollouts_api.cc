#include "server/rollouts_api.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <exception>

#include "api/errors.h"
#include "common/clock.h"

namespace triage::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kPath = "/admin/rollouts";

AdminReply error_reply(const Error& e) {
  api::HttpError r = api::error_response(e);
  return AdminReply{r.status, std::move(r.body)};
}

json::value opt(const std::optional<double>& v) { return v ? json::value(*v) : json::value(); }

json::object side_json(const control::WindowStats& w, const control::WindowStats& agreement) {
  return json::object{{"requests", w.requests},
                      {"success_rate", w.success_rate()},
                      {"p95_ms", w.p95_latency_ms},
                      {"cost_per_request_usd", w.cost_per_request()},
                      {"compared", agreement.compared},
                      {"agreement", agreement.compared ? json::value(agreement.agreement())
                                                       : json::value()}};
}

json::object event_json(const telemetry::StoredRolloutEvent& e) {
  return json::object{{"ts_ms", e.ts_ms},   {"kind", e.kind},       {"state", e.state},
                      {"step", e.step},     {"percent", e.percent}, {"reason", e.reason},
                      {"config_version", e.config_version}};
}

json::object view_json(const RolloutView& v) {
  json::array steps;
  for (double s : v.spec.steps) steps.push_back(s);
  json::array gates;
  for (const control::GateCheck& g : v.gates) {
    gates.push_back(json::object{{"gate", g.gate},           {"status", g.status},
                                 {"candidate", g.candidate}, {"reference", g.reference},
                                 {"limit", g.limit},         {"detail", g.detail}});
  }
  json::object weights;
  for (const auto& [child, w] : v.weights) weights[child] = w;
  json::array events;
  for (const auto& e : v.events) events.push_back(event_json(e));
  const control::RolloutGates& g = v.spec.gates;
  return json::object{
      {"route", v.route},
      {"candidate", v.spec.candidate},
      {"state", control::rollout_state_name(v.status.state)},
      {"step", v.status.step},
      {"percent", opt(v.percent)},
      {"steps", std::move(steps)},
      {"hold_s", static_cast<double>(v.spec.hold_ms) / 1000.0},
      {"min_requests", v.spec.min_requests},
      {"step_started_ms", v.status.step_started_ms},
      {"limits", json::object{{"max_success_drop", opt(g.max_success_drop)},
                              {"max_p95_ratio", opt(g.max_p95_ratio)},
                              {"max_cost_ratio", opt(g.max_cost_ratio)},
                              {"min_agreement", opt(g.min_agreement)}}},
      {"gates", std::move(gates)},
      {"candidate_stats", side_json(v.candidate, v.candidate_agreement)},
      {"others_stats", side_json(v.others, v.others_agreement)},
      {"replicas", v.replicas},
      {"weights", std::move(weights)},
      {"events", std::move(events)}};
}

asio::awaitable<AdminReply> run_on_worker(RolloutsApi* api, AdminJob job) {
  co_return api->dispatch(job);
}

}  // namespace

RolloutsApi::~RolloutsApi() { close(); }

void RolloutsApi::close() { pool_.join(); }

bool RolloutsApi::handles(std::string_view path) {
  return path == kPath || (path.starts_with(kPath) && path.size() > kPath.size() &&
                           path[kPath.size()] == '/');
}

asio::awaitable<void> RolloutsApi::handle(net::IncomingRequest& in, net::ResponseWriter& out) {
  AdminJob job = admin_job(in);
  asio::awaitable<AdminReply> work = run_on_worker(this, std::move(job));
  AdminReply reply =
      co_await asio::co_spawn(pool_.get_executor(), std::move(work), asio::use_awaitable);
  co_await send_admin_reply(out, std::move(reply));
}

AdminReply RolloutsApi::dispatch(const AdminJob& job) {
  try {
    const std::string_view target = std::string_view(job.target).substr(0, job.target.find('?'));
    if (target == kPath) {
      if (job.method == "GET") return list();
      return error_reply(make_error(ErrorCode::kMethodNotAllowed, "use GET for /admin/rollouts"));
    }
    const std::string_view action = target.substr(kPath.size() + 1);
    if (action != "start" && action != "pause" && action != "resume" && action != "abort") {
      return error_reply(make_error(ErrorCode::kNotFound,
                                    "no endpoint " + std::string(target) +
                                        " (POST /admin/rollouts/start, pause, resume or abort)"));
    }
    if (job.method != "POST") {
      return error_reply(
          make_error(ErrorCode::kMethodNotAllowed, "use POST for " + std::string(target)));
    }
    return command(action, job);
  } catch (const std::exception& e) {
    spdlog::error("rollouts API {} {} failed with an exception: {}", job.method, job.target,
                  e.what());
    return error_reply(make_error(ErrorCode::kInternal, "internal error in the rollouts API"));
  }
}

AdminReply RolloutsApi::list() {
  json::array data;
  for (const RolloutView& v : rollouts_.list(unix_time_ms())) data.push_back(view_json(v));
  return AdminReply{200, json::serialize(json::object{{"data", std::move(data)}})};
}

AdminReply RolloutsApi::command(std::string_view action, const AdminJob& job) {
  if (!job.actor_error.empty()) {
    return error_reply(make_error(ErrorCode::kInvalidRequest, job.actor_error));
  }
  boost::system::error_code ec;
  json::value body = json::parse(job.body, ec);
  const json::object* o = ec ? nullptr : body.if_object();
  const json::value* route = o ? o->if_contains("route") : nullptr;
  if (!route || !route->is_string()) {
    return error_reply(make_error(ErrorCode::kInvalidRequest,
                                  "send {\"route\": \"<split route>\"} as a JSON object", {},
                                  "route"));
  }
  RolloutCommand c = RolloutCommand::kStart;
  if (action == "pause") c = RolloutCommand::kPause;
  if (action == "resume") c = RolloutCommand::kResume;
  if (action == "abort") c = RolloutCommand::kAbort;
  auto ev = rollouts_.command(std::string(route->as_string()), c, unix_time_ms(), job.actor);
  if (!ev && ev.error().param == Rollouts::kNotLeaderParam) {
    // Another replica runs the rollouts (docs/scaling.md "One controller"): 409, not 503 (a
    // retry here does not help; the leader takes it).
    AdminReply reply = error_reply(ev.error());
    reply.status = 409;
    return reply;
  }
  if (!ev) return error_reply(ev.error());
  const control::RolloutEvent& e = ev.value();
  json::object out{{"route", route->as_string()},
                   {"kind", e.kind},
                   {"state", control::rollout_state_name(e.state)},
                   {"step", e.step},
                   {"percent", e.percent},
                   {"reason", e.reason}};
  return AdminReply{200, json::serialize(out)};
}

}  // namespace triage::server

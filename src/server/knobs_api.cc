#include "server/knobs_api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <exception>

#include "api/errors.h"
#include "common/clock.h"
#include "routes/knob.h"

namespace triage::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kPath = "/admin/knobs";
constexpr int64_t kEventsListed = 50;

AdminReply error_reply(const Error& e) {
  api::HttpError r = api::error_response(e);
  return AdminReply{r.status, std::move(r.body)};
}

AdminReply bad(std::string message, std::string param = {}) {
  return error_reply(
      make_error(ErrorCode::kInvalidRequest, std::move(message), {}, std::move(param)));
}

json::object event_json(const telemetry::StoredKnobEvent& e) {
  return json::object{{"ts_ms", e.ts_ms},   {"route", e.route},   {"knob", e.knob},
                      {"before", e.before}, {"after", e.after},   {"who", e.who},
                      {"reason", e.reason}, {"config_version", e.config_version}};
}

asio::awaitable<AdminReply> run_on_worker(KnobsApi* api, AdminJob job) {
  co_return api->dispatch(job);
}

}  // namespace

KnobsApi::~KnobsApi() { close(); }

void KnobsApi::close() { pool_.join(); }

bool KnobsApi::handles(std::string_view path) { return path == kPath; }

asio::awaitable<void> KnobsApi::handle(net::IncomingRequest& in, net::ResponseWriter& out) {
  AdminJob job = admin_job(in);
  asio::awaitable<AdminReply> work = run_on_worker(this, std::move(job));
  AdminReply reply =
      co_await asio::co_spawn(pool_.get_executor(), std::move(work), asio::use_awaitable);
  co_await send_admin_reply(out, std::move(reply));
}

AdminReply KnobsApi::dispatch(const AdminJob& job) {
  try {
    if (job.method == "GET") return list();
    if (job.method == "PUT") return move(job);
    return error_reply(make_error(ErrorCode::kMethodNotAllowed, "use GET or PUT for /admin/knobs"));
  } catch (const std::exception& e) {
    spdlog::error("knobs API {} {} failed with an exception: {}", job.method, job.target,
                  e.what());
    return error_reply(make_error(ErrorCode::kInternal, "internal error in the knobs API"));
  }
}

AdminReply KnobsApi::list() {
  const std::shared_ptr<const Serving> serving = versions_.current();
  const int64_t seq = serving->version.seq;
  json::array data;
  for (const std::string& route_name : serving->routes().route_names()) {
    routes::Route* route = serving->routes().find(route_name);
    if (!route) continue;
    for (routes::Knob* k : routes::knobs_of(*route)) {
      const auto [lo, hi] = k->range();
      json::object o{{"route", route_name},      {"knob", std::string(k->name())},
                     {"value", k->get()},        {"range", json::array{lo, hi}},
                     {"step", k->step()},        {"set_by", "config"},
                     {"set_ms", nullptr},        {"reason", ""}};
      if (auto moved = moves_.last_move(seq, route_name, std::string(k->name()))) {
        o["set_by"] = moved->who;
        o["set_ms"] = moved->ts_ms;
        o["reason"] = moved->reason;
      }
      data.push_back(std::move(o));
    }
  }
  auto events = versions_.knob_events(kEventsListed);
  if (!events) return error_reply(events.error());
  json::array listed;
  for (const auto& e : events.value()) listed.push_back(event_json(e));
  json::object out{{"config_version", seq}, {"data", std::move(data)}, {"events", std::move(listed)}};
  return AdminReply{200, json::serialize(out)};
}

AdminReply KnobsApi::move(const AdminJob& job) {
  boost::system::error_code ec;
  json::value body = json::parse(job.body, ec);
  const json::object* o = ec ? nullptr : body.if_object();
  if (!job.actor_error.empty()) return bad(job.actor_error);
  if (!o) return bad("send {\"route\", \"knob\", \"value\", \"reason\"?} as a JSON object");
  const json::value* route_v = o->if_contains("route");
  const json::value* knob_v = o->if_contains("knob");
  const json::value* value_v = o->if_contains("value");
  if (!route_v || !route_v->is_string()) return bad("'route' must be a route name", "route");
  if (!knob_v || !knob_v->is_string()) return bad("'knob' must be a knob name", "knob");
  if (!value_v || !value_v->is_number()) return bad("'value' must be a number", "value");
  std::string reason;
  if (const json::value* r = o->if_contains("reason"); r && r->is_string()) {
    reason = std::string(r->as_string());
  }
  auto moved = moves_.move(KnobMove{std::string(route_v->as_string()),
                                    std::string(knob_v->as_string()),
                                    value_v->to_number<double>(), job.actor, std::move(reason)});
  if (!moved) return error_reply(moved.error());
  const telemetry::StoredKnobEvent& event = moved.value();
  return AdminReply{200, json::serialize(event_json(event))};
}

}  // namespace triage::server

#include "server/config_api.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/param.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <charconv>
#include <exception>

#include "api/errors.h"

namespace triage::server {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kPrefix = "/admin/config";
constexpr std::string_view kRollback = "/admin/config/rollback";

AdminReply error_reply(const Error& e) {
  api::HttpError r = api::error_response(e);
  return AdminReply{r.status, std::move(r.body)};
}

AdminReply bad(std::string message, std::string param = {}) {
  return error_reply(
      make_error(ErrorCode::kInvalidRequest, std::move(message), {}, std::move(param)));
}

// The decoded value of `name` in a query string; nullopt when absent or not a valid query.
std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  // Boost.URL 1.81 converts an empty view with strlen: never hand it one (its data may be null).
  if (query.empty() || !boost::urls::parse_query(query)) return std::nullopt;
  for (const boost::urls::param& p : boost::urls::params_view(query)) {
    if (p.key == name) return p.value;
  }
  return std::nullopt;
}

std::optional<int64_t> parse_seq(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1) return std::nullopt;
  return v;
}

json::object version_json(const telemetry::StoredConfigVersion& v, bool with_yaml) {
  json::object o;
  o["seq"] = v.seq;
  o["sha256"] = v.sha256;
  o["applied_ms"] = v.applied_ms;
  o["who"] = v.who;
  o["reason"] = v.reason;
  if (with_yaml) o["yaml"] = v.yaml;
  return o;
}

AdminReply applied_reply(const Result<config::ConfigVersion>& r) {
  if (!r) return error_reply(r.error());
  json::object o;
  o["seq"] = r->seq;
  o["sha256"] = r->sha256;
  return AdminReply{200, json::serialize(o)};
}

asio::awaitable<AdminReply> run_on_worker(ConfigApi* api, AdminJob job, std::string reason) {
  co_return api->dispatch(job, reason);
}

}  // namespace

ConfigApi::~ConfigApi() { close(); }

void ConfigApi::close() { pool_.join(); }

bool ConfigApi::handles(std::string_view path) {
  return path == kPrefix || path.rfind(std::string(kPrefix) + "/", 0) == 0;
}

asio::awaitable<void> ConfigApi::handle(net::IncomingRequest& in, net::ResponseWriter& out) {
  AdminJob job = admin_job(in);
  std::string reason(in.header("x-triage-reason"));
  asio::awaitable<AdminReply> work = run_on_worker(this, std::move(job), std::move(reason));
  AdminReply reply =
      co_await asio::co_spawn(pool_.get_executor(), std::move(work), asio::use_awaitable);
  co_await send_admin_reply(out, std::move(reply));
}

AdminReply ConfigApi::dispatch(const AdminJob& job, const std::string& reason_header) {
  try {
    const std::size_t q = job.target.find('?');
    const std::string_view path = std::string_view(job.target).substr(0, q);
    const std::string_view query =
        q == std::string::npos ? std::string_view() : std::string_view(job.target).substr(q + 1);
    const std::string_view method = job.method;
    if (job.body_too_large) {
      return error_reply(make_error(ErrorCode::kPayloadTooLarge,
                                    "the body is larger than server.max_body_bytes"));
    }
    if (path == kPrefix) {
      if (method == "GET") return list(query);
      if (method == "POST") {
        std::string reason = reason_header;
        if (reason.empty()) reason = query_value(query, "reason").value_or("");
        return apply(job, std::move(reason));
      }
      return error_reply(
          make_error(ErrorCode::kMethodNotAllowed, "use GET or POST for /admin/config"));
    }
    if (path == kRollback) {
      if (method == "POST") return rollback(job);
      return error_reply(
          make_error(ErrorCode::kMethodNotAllowed, "use POST for /admin/config/rollback"));
    }
    return error_reply(make_error(ErrorCode::kNotFound,
                                  "no endpoint " + std::string(path) +
                                      " (expected /admin/config or /admin/config/rollback)"));
  } catch (const std::exception& e) {
    spdlog::error("config API {} {} failed with an exception: {}", job.method, job.target,
                  e.what());
    return error_reply(make_error(ErrorCode::kInternal, "internal error in the config API"));
  }
}

AdminReply ConfigApi::list(std::string_view query) {
  if (std::optional<std::string> seq_text = query_value(query, "seq")) {
    const std::optional<int64_t> seq = parse_seq(*seq_text);
    if (!seq) return bad("'seq' must be a version number (1, 2, ...)", "seq");
    auto found = versions_.find(*seq);
    if (!found) return error_reply(found.error());
    if (!found.value()) {
      return error_reply(make_error(ErrorCode::kNotFound,
                                    "no config version " + std::to_string(*seq), {}, "seq"));
    }
    return AdminReply{200, json::serialize(version_json(*found.value(), true))};
  }
  auto all = versions_.history(false);
  if (!all) return error_reply(all.error());
  json::array data;
  for (const auto& v : all.value()) data.push_back(version_json(v, false));
  const std::shared_ptr<const Serving> current = versions_.current();
  json::object o;
  o["current"] = json::object{{"seq", current->version.seq}, {"sha256", current->version.sha256}};
  o["data"] = std::move(data);
  return AdminReply{200, json::serialize(o)};
}

AdminReply ConfigApi::apply(const AdminJob& job, std::string reason) {
  if (!job.actor_error.empty()) return bad(job.actor_error);
  if (job.body.empty()) return bad("send the new config's YAML as the body");
  // Relative paths in the body resolve against the running config's directory.
  const std::string path = versions_.current()->cfg().path;
  return applied_reply(versions_.apply(job.body, path, job.actor, reason));
}

AdminReply ConfigApi::rollback(const AdminJob& job) {
  if (!job.actor_error.empty()) return bad(job.actor_error);
  boost::system::error_code ec;
  json::value body = json::parse(job.body, ec);
  const json::object* o = ec ? nullptr : body.if_object();
  const json::value* seq = o ? o->if_contains("seq") : nullptr;
  if (!seq || !seq->is_int64() || seq->as_int64() < 1) {
    return bad("send {\"seq\": N} with the version to return to (GET /admin/config lists them)",
               "seq");
  }
  std::string reason;
  if (const json::value* r = o->if_contains("reason"); r && r->is_string()) {
    reason = std::string(r->as_string());
  }
  return applied_reply(versions_.rollback(seq->as_int64(), job.actor, reason));
}

}  // namespace triage::server

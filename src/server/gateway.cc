#include "server/gateway.h"
#include "server/limit_await.h"

#include <charconv>

#include <openssl/sha.h>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/param.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "api/chat_request.h"
#include "api/chat_response.h"
#include "api/errors.h"
#include "api/models.h"
#include "common/ids.h"
#include "core/tokens.h"
#include "engine/builtins.h"
#include "server/sse_sink.h"

namespace triage::server {

namespace asio = boost::asio;

namespace {

// "key_" + 12 hex digits of SHA-256(key): identifies a caller in the store without the key.
// Clients reuse one key across many requests, so each I/O thread remembers the last one it
// hashed (SHA-256 is ~10k instructions; a compare is nothing).
// The key is the Bearer token, else x-api-key (the Anthropic SDKs' header).
std::string api_key_id(std::string_view authorization, std::string_view x_api_key) {
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view key = x_api_key;
  if (authorization.size() > kBearer.size() && authorization.substr(0, kBearer.size()) == kBearer) {
    key = authorization.substr(kBearer.size());
  }
  if (key.empty()) return {};
  thread_local std::string last_key;
  thread_local std::string last_id;
  if (key == last_key && !last_id.empty()) return last_id;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "key_";
  for (int i = 0; i < 6; ++i) {
    id += kHex[digest[i] >> 4];
    id += kHex[digest[i] & 0xf];
  }
  last_key.assign(key);
  last_id = id;
  return id;
}

bool is_json_content_type(std::string_view ct) {
  auto semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (media.size() != 16) return false;
  return std::equal(media.begin(), media.end(), "application/json", [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == b;
  });
}

// Answers are built by plain functions, then sent with one co_await on named values: GCC 12
// destroys some temporaries inside co_await expressions twice.

Reply error_reply(const Error& e, net::HeaderList headers = {},
                  const api::Dialect& dialect = api::chat_dialect()) {
  api::HttpError r = dialect.error(e);
  if (e.retry_after_s > 0) headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return Reply{r.status, "application/json", std::move(headers), std::move(r.body)};
}

asio::awaitable<bool> send_reply(net::ResponseWriter& out, Reply& reply) {
  return out.send(reply.status, reply.content_type, reply.headers, std::move(reply.body));
}

const char kEndpoints[] =
    " (Triage serves POST /v1/chat/completions, POST /v1/messages, POST /v1/responses, "
    "POST /v1/embeddings, GET /v1/models, "
    "GET /v1/models/{id}, /healthz, /readyz, /metrics, "
    "POST /v1/feedback, GET /v1/review, GET /dashboard, GET /v1/dashboard/...)";

// The dialect of a client API path, or null when `target` is not one.
const api::Dialect* client_dialect(std::string_view target) {
  if (target == "/v1/chat/completions" || target == "/chat/completions") return &api::chat_dialect();
  if (target == "/v1/messages" || target == "/messages") return &api::messages_dialect();
  if (target == "/v1/responses" || target == "/responses") return &api::responses_dialect();
  return nullptr;
}

// "" for /v1/models, the id for /v1/models/{id}; nullopt for any other path.
std::optional<std::string_view> models_path_id(std::string_view target) {
  for (std::string_view prefix : {std::string_view("/v1/models"), std::string_view("/models")}) {
    if (!target.starts_with(prefix)) continue;
    std::string_view rest = target.substr(prefix.size());
    if (rest.empty()) return rest;
    if (rest.front() == '/' && rest.size() > 1) return rest.substr(1);
  }
  return std::nullopt;
}

// The request's deadline in ms from its arrival: the server's request_timeout_ms, or the
// client's x-triage-timeout-ms when that is shorter.
Result<int64_t> request_timeout_ms(std::string_view header, int64_t server_ms) {
  if (header.empty()) return server_ms;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), v);
  if (ec != std::errc() || end != header.data() + header.size() || v <= 0) {
    return make_error(ErrorCode::kInvalidRequest,
                      "header x-triage-timeout-ms must be a positive integer (milliseconds)", {},
                      "x-triage-timeout-ms");
  }
  return std::min(v, server_ms);
}

void record_error(core::Trace& trace, const Error& e) {
  trace.http_status = api::http_status(e.code);
  trace.error_code = std::string(error_code_name(e.code));
  trace.error_message = e.internal.empty() ? e.message : e.message + " (" + e.internal + ")";
  // The full detail of a failure on our side (upstream, overload, bug) goes to the log too.
  if (trace.http_status >= 500) {
    spdlog::warn("request {} failed with {} {} (model '{}'): {}", trace.request_id,
                 trace.http_status, trace.error_code, trace.model, trace.error_message);
  }
}

// What the client is told of an error. An upstream's failure (kUpstreamError, kUpstreamTimeout)
// is the operator's to fix, and its message may name the upstream's address: the client learns
// what happened and the request id; the detail goes to the log (record_error) and the store.
Error for_client(const Error& e, const core::Trace& trace) {
  if (e.code != ErrorCode::kUpstreamError && e.code != ErrorCode::kUpstreamTimeout) return e;
  const std::string model = trace.model.empty() ? "the requested model" : "model '" + trace.model + "'";
  const std::string what = e.code == ErrorCode::kUpstreamTimeout
                               ? " did not answer in time"
                               : " failed";
  return make_error(e.code,
                    "the upstream of " + model + what + "; the gateway's log has the details of "
                        "request " + trace.request_id,
                    {}, e.param);
}

bool has_limits(const control::KeyLimits& l) {
  return l.requests_per_minute > 0 || l.tokens_per_minute > 0 || l.usd_per_day > 0 ||
         l.usd_per_month > 0;
}

// The dashboard's sign-in page: one form that posts the admin token to /dashboard/sign-in.
std::string sign_in_page(std::string_view message) {
  std::string page =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>Triage: sign in</title>"
      "<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto}"
      "input{width:100%;padding:.4rem;margin:.5rem 0}p.error{color:#b00}</style></head><body>"
      "<h1>Triage dashboard</h1><p>Sign in with the gateway's admin token.</p>";
  if (!message.empty()) page += "<p class=\"error\" id=\"sign-in-error\">" + std::string(message) + "</p>";
  page +=
      "<form method=\"post\" action=\"/dashboard/sign-in\"><label for=\"token\">Admin token"
      "</label><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" "
      "required><button type=\"submit\">Sign in</button></form></body></html>";
  return page;
}

// The value of `name` in an application/x-www-form-urlencoded body ('+' is a space); empty
// when absent or when the body is not a valid query string.
std::string form_value(std::string_view body, std::string_view name) {
  boost::urls::result<boost::urls::params_encoded_view> parsed = boost::urls::parse_query(body);
  if (!parsed) return {};
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  // The (string, opts) constructor: 1.81's library lacks the (params_view, opts) one. It
  // throws on an invalid query, which parse_query has ruled out.
  for (const boost::urls::param& p : boost::urls::params_view(body, opts)) {
    if (p.key == name) return p.value;
  }
  return {};
}

// Did the client reach us over TLS? Triage serves plain HTTP; a TLS-terminating proxy in front
// says so in X-Forwarded-Proto (its first entry, when proxies are chained).
bool forwarded_https(std::string_view header) {
  const std::string_view first = header.substr(0, header.find(','));
  return boost::algorithm::iequals(boost::algorithm::trim_copy(std::string(first)), "https");
}

// A stream that failed after it started (the client went away, the upstream broke): its
// upstream usage never came, but the prompt was sent and the deltas the client got were
// generated. Charges those, estimated, at the model that streamed them, so that a stream cut
// short is never free (budgets, the store, metrics).
// Estimated tokens of the prompt, for a stream cut short (the upstream's usage never came).
int64_t estimated_prompt_tokens(const core::ChatRequest& req) {
  int64_t n = 0;
  for (const core::Message& m : req.messages) n += core::estimate_tokens(m.text);
  return n;
}

void charge_sent(const config::Config& cfg, core::Trace& trace, const core::ChatRequest& req,
                 const SseSink& sink) {
  const config::Model* model = cfg.find_model(trace.model);
  const int64_t in = estimated_prompt_tokens(req);
  const int64_t out = sink.sent_tokens();
  trace.tokens_in += in;
  trace.tokens_out += out;
  trace.tokens_estimated = true;
  if (model) trace.cost_usd += config::cost_usd(model->prices, in, out);
}

}  // namespace

Gateway::Gateway(const config::Config& cfg, const providers::EnvLookup& env,
                 engine::ConfigAdjust adjust)
    : cfg_(cfg) {
  std::unique_ptr<engine::BuiltConfig> built = engine::build_config(cfg_, env);
  metrics_ = std::make_unique<telemetry::Metrics>(telemetry::MetricsOptions::from_config(cfg_));
  if (cfg_.otel) {
    otlp_ = std::make_unique<telemetry::OtlpExporter>(
        telemetry::OtlpOptions::from_config(*cfg_.otel, env), &metrics_->registry());
  }
  store_ = telemetry::make_request_store(cfg_);
  metrics_->set_store(store_.get());
  review_sink_ = std::make_unique<telemetry::ReviewSink>(
      telemetry::ReviewRules::from_config(cfg_), *store_);
  sinks_.add(*metrics_);
  sinks_.add(*store_);
  sinks_.add(*review_sink_);
  if (otlp_) sinks_.add(*otlp_);
  access_ = std::make_unique<AccessControl>(cfg_, env);
  limit_metrics_ =
      std::make_unique<LimitBackendMetrics>(access_->redis_limits(), metrics_->registry());
  // The serving snapshot: version 1 (or the store's next), breakers observed into metrics_.
  versions_ = std::make_unique<ConfigVersions>(std::move(built), std::move(adjust), env,
                                               *metrics_, *access_);
  config_api_ = std::make_unique<ConfigApi>(*versions_);
  knob_moves_ = std::make_unique<KnobMoves>(*versions_, *metrics_);
  leadership_ = Leadership::from_config(cfg_, *metrics_);
  if (cfg_.store.config_poll_ms > 0) {
    // Replicas sharing one store: the knob moves made so far on the serving version apply
    // here too; then versions and moves another replica makes are followed.
    if (auto r = knob_moves_->follow_store(); !r) {
      spdlog::warn("knob follower: {}", r.error().message);
    }
    config_follower_ = std::make_unique<PeriodicWorker>(
        "config follower",
        [v = versions_.get(), k = knob_moves_.get()] {
          if (auto r = v->follow_store(); !r) {
            spdlog::warn("config follower: {}", r.error().message);
          }
          if (auto r = k->follow_store(); !r) {
            spdlog::warn("knob follower: {}", r.error().message);
          }
        },
        [v = versions_.get()] {
          return std::max<int64_t>(100, v->current()->cfg().store.config_poll_ms);
        });
    config_follower_->start(/*run_first=*/false);
  }
  leadership_->start();
  knobs_api_ = std::make_unique<KnobsApi>(*versions_, *knob_moves_);
  fleet_windows_ = FleetWindows::open(cfg_, *metrics_);  // null unless replicas share the store
  rollouts_ = std::make_unique<Rollouts>(cfg_, *versions_, *knob_moves_, *metrics_);
  rollouts_->set_fleet(fleet_windows_.get());
  rollouts_->set_leadership(leadership_.get());
  sinks_.add(*rollouts_);
  rollouts_api_ = std::make_unique<RolloutsApi>(*rollouts_);
  rollouts_->start_timer();
  slo_controller_ = std::make_unique<SloController>(*versions_, *knob_moves_, *metrics_);
  slo_controller_->set_fleet(fleet_windows_.get());
  if (fleet_windows_) fleet_windows_->start();
  slo_controller_->set_leadership(leadership_.get());
  sinks_.add(*slo_controller_);
  slos_api_ = std::make_unique<SlosApi>(*slo_controller_);
  admin_ = std::make_unique<AdminApi>(cfg_, *store_);
  admin_->set_late_news(AdminApi::LateNews{
      [c = slo_controller_.get()](const std::string& id, double score) {
        c->late_feedback(id, score);
      },
      [c = slo_controller_.get()](const std::string& id, bool correct, const std::string& tier) {
        c->late_label(id, correct, tier);
      }});
  dashboard_ = std::make_unique<DashboardApi>(
      cfg_, *store_, [v = versions_.get()]() -> std::shared_ptr<const routes::RouteTable> {
        std::shared_ptr<const Serving> s = v->current();
        return {s, &s->routes()};  // aliasing: keeps the snapshot alive
      });
  keys_api_ = std::make_unique<KeysApi>(cfg_, *access_, *store_, [this](std::string_view name) {
    return versions_->current()->routes().find(name) != nullptr;
  });
}

Gateway::~Gateway() { close(); }

void Gateway::close() {
  if (config_follower_) config_follower_->stop();
  if (rollouts_api_) rollouts_api_->close();
  if (rollouts_) rollouts_->close();
  if (slo_controller_) slo_controller_->stop();
  if (fleet_windows_) fleet_windows_->stop();
  if (leadership_) leadership_->stop();  // after the controllers: released, another takes over
  if (slos_api_) slos_api_->close();
  if (knobs_api_) knobs_api_->close();
  if (config_api_) config_api_->close();
  if (keys_api_) keys_api_->close();
  if (admin_) admin_->close();
  if (dashboard_) dashboard_->close();
  if (store_) store_->close();
  if (otlp_) otlp_->close();
}

void Gateway::finish(core::Trace& trace, SteadyTime start, control::Reservation* hold) {
  if (hold) hold->settle(trace.tokens_in + trace.tokens_out, trace.cost_usd);
  sinks_.publish(std::move(trace), micros_between(start, SteadyClock::now()));
}

asio::awaitable<void> Gateway::handle(net::IncomingRequest& in, net::ResponseWriter& out) {
  bool crashed = false;
  try {
    const std::string_view target = in.target().substr(0, in.target().find('?'));
    const std::string_view method = in.method();
    const api::Dialect* dialect = client_dialect(target);
    const bool chat_path = dialect != nullptr;
    if (target == "/v1/feedback" && in.malformed().empty()) {
      // A client key gives feedback on its own requests only; the operator on any.
      Result<std::shared_ptr<const control::ApiKey>> key = access_->client_key(in);
      std::string owner = key && key.value() ? key.value()->id : std::string();
      if (!key && !access_->check_admin(in)) {
        Reply reply = error_reply(key.error());
        co_await send_reply(out, reply);
        co_return;
      }
      co_await admin_->handle(in, out, std::move(owner));
      co_return;
    }
    if (target == "/dashboard/sign-in" && in.malformed().empty()) {
      co_await sign_in(in, out);
      co_return;
    }
    const bool dashboard = DashboardApi::handles(target);
    if ((dashboard || AdminApi::handles(target) || KeysApi::handles(target) ||
         ConfigApi::handles(target) || KnobsApi::handles(target) ||
         RolloutsApi::handles(target) || SlosApi::handles(target) ||
         target == "/admin/fleet") &&
        in.malformed().empty()) {
      const bool page = target == "/dashboard" || target == "/dashboard/";
      if (page && !access_->check_admin(in) && in.method() == "GET") {
        co_await sign_in(in, out);  // the form, for a browser that is not signed in
        co_return;
      }
      const bool admitted = co_await admit_admin(in, out);  // a named local: GCC 12
      if (!admitted) co_return;
      if (dashboard) {
        co_await dashboard_->handle(in, out);
      } else if (KeysApi::handles(target)) {
        co_await keys_api_->handle(in, out);
      } else if (ConfigApi::handles(target)) {
        co_await config_api_->handle(in, out);
      } else if (KnobsApi::handles(target)) {
        co_await knobs_api_->handle(in, out);
      } else if (RolloutsApi::handles(target)) {
        co_await rollouts_api_->handle(in, out);
      } else if (SlosApi::handles(target)) {
        co_await slos_api_->handle(in, out);
      } else if (target == "/admin/fleet") {
        Reply reply = fleet_reply(method);
        co_await send_reply(out, reply);
      } else {
        co_await admin_->handle(in, out);
      }
      co_return;
    }
    const std::optional<std::string_view> model_id = models_path_id(target);
    if (model_id && in.malformed().empty()) {
      Result<std::shared_ptr<const control::ApiKey>> key = access_->client_key(in);
      if (!key) {
        Reply reply = error_reply(key.error());
        co_await send_reply(out, reply);
        co_return;
      }
      if (method == "GET" || method == "HEAD") {
        const std::shared_ptr<const Serving> serving = versions_->current();
        Reply reply = model_reply(*serving, *model_id, key.value().get());
        co_await send_reply(out, reply);
        co_return;
      }
    }
    const bool embeddings_path = target == "/v1/embeddings" || target == "/embeddings";
    if ((chat_path || embeddings_path) && method == "POST" && in.malformed().empty()) {
      const api::Dialect& shape = chat_path ? *dialect : api::chat_dialect();
      if (in.over_capacity()) {
        co_await refuse_over_capacity(out, shape);
        co_return;
      }
      const telemetry::Metrics::InflightScope inflight = metrics_->track_inflight();
      if (embeddings_path) {
        co_await embeddings(in, out);
      } else {
        co_await chat(in, out, *dialect);
      }
      co_return;
    }
    Reply reply = simple_reply(in, target, method, chat_path);
    co_await send_reply(out, reply);
  } catch (const std::exception& e) {
    // The one catch-all per request: a bug, not an expected failure.
    spdlog::error("request {} {} failed with an exception: {}", in.method(), in.target(), e.what());
    crashed = true;
  }
  if (crashed && !out.started()) {
    Reply reply = error_reply(
        make_error(ErrorCode::kInternal, "internal error in Triage; the request was not completed"));
    co_await send_reply(out, reply);
  }
}

asio::awaitable<void> Gateway::refuse_over_capacity(net::ResponseWriter& out,
                                                   const api::Dialect& dialect) {
  // Nothing is read or routed: the cheapest answer a busy thread can give. Not traced (no row:
  // the request was not worked on); counted in triage_requests_shed_total.
  metrics_->count_shed_at_capacity();
  Error busy = make_error(ErrorCode::kUnavailable,
                          "Triage is at capacity (server.max_requests_per_thread requests in "
                          "flight on this I/O thread); retry after the time in Retry-After");
  busy.retry_after_s = 1;
  Reply reply = error_reply(busy, {}, dialect);
  co_await send_reply(out, reply);
}

Reply Gateway::simple_reply(net::IncomingRequest& in, std::string_view target,
                            std::string_view method, bool /*chat_path*/) const {
  if (!in.malformed().empty()) {
    return error_reply(make_error(ErrorCode::kInvalidRequest,
                                  "malformed HTTP request: " + std::string(in.malformed())));
  }
  if (const api::Dialect* dialect = client_dialect(target)) {
    return error_reply(make_error(ErrorCode::kMethodNotAllowed,
                                  "use POST for " + std::string(target)),
                       {}, *dialect);
  }
  if (target == "/v1/embeddings" || target == "/embeddings") {
    return error_reply(
        make_error(ErrorCode::kMethodNotAllowed, "use POST for " + std::string(target)));
  }
  if (method == "GET" || method == "HEAD") {
    if (target == "/healthz") return Reply{200, "application/json", {}, R"({"status":"ok"})"};
    if (target == "/readyz") {
      if (draining_.load()) return Reply{503, "application/json", {}, R"({"status":"draining"})"};
      // A shared store's database away: still ready while its queue has room (rows buffered,
      // docs/store.md "PostgreSQL"), not once it is full (rows would be dropped).
      if (store_ && !store_->database_up()) {
        const bool full = store_->queue_full();
        return Reply{full ? 503 : 200, "application/json", {},
                     std::string(R"({"status":")") + (full ? "store_full" : "ready") +
                         R"(","store":"database unreachable","store_queued":)" +
                         std::to_string(store_->queued()) + "}"};
      }
      return Reply{200, "application/json", {}, R"({"status":"ready"})"};
    }
    if (target == "/metrics") {
      limit_metrics_->refresh();
      return Reply{200, "text/plain; version=0.0.4; charset=utf-8", {}, metrics_->render()};
    }
  }
  return error_reply(make_error(ErrorCode::kNotFound, "no endpoint " + std::string(method) + " " +
                                                          std::string(target) + kEndpoints));
}

Reply Gateway::model_reply(const Serving& serving, std::string_view id,
                           const control::ApiKey* key) const {
  const config::Config& cfg = serving.cfg();
  const int64_t created_s = serving.created_s;
  const bool restricted =
      key && (!key->allowed_routes.empty() || !key->allowed_models.empty());
  if (id.empty() && !restricted) return Reply{200, "application/json", {}, serving.models_json};
  if (id.empty()) {
    // A key limited to some routes or models sees only those (rendered per request: rare).
    const auto visible = [key](std::string_view name) { return control::is_allowed(*key, name); };
    return Reply{200, "application/json", {}, api::serialize_model_list(cfg, created_s, visible)};
  }
  Result<std::string> model = api::serialize_model(cfg, id, created_s);
  if (model && key && !AccessControl::check_allowed(*key, id)) {
    // Not one of this key's models: answered like an unknown one, so a key learns nothing of
    // what it may not use.
    model = make_error(ErrorCode::kNotFound,
                       "The model '" + std::string(id) + "' does not exist or is not served here.",
                       {}, "model");
  }
  if (!model) return error_reply(model.error());
  return Reply{200, "application/json", {}, std::move(model).value()};
}

asio::awaitable<void> Gateway::respond_error(core::Trace& trace, SteadyTime start,
                                             net::ResponseWriter& out, const Error& e,
                                             const api::Dialect& dialect,
                                             control::Reservation* hold) {
  record_error(trace, e);
  Reply reply = error_reply(for_client(e, trace), {{"x-request-id", trace.request_id}}, dialect);
  finish(trace, start, hold);
  co_await send_reply(out, reply);
}

Reply Gateway::fleet_reply(std::string_view method) const {
  if (method != "GET") {
    return error_reply(make_error(ErrorCode::kMethodNotAllowed, "use GET for /admin/fleet"));
  }
  boost::json::object o{{"replica", leadership_->replica()},
                        {"fleet", leadership_->fleet()},
                        {"is_leader", leadership_->is_leader()},
                        {"leader", leadership_->leader()},
                        {"config_version", versions_->current()->version.seq}};
  return Reply{200, "application/json", {}, boost::json::serialize(o)};
}

asio::awaitable<bool> Gateway::admit_admin(net::IncomingRequest& in, net::ResponseWriter& out) {
  Result<void> ok = access_->check_admin(in);
  if (ok) co_return true;
  Reply reply = error_reply(ok.error());
  co_await send_reply(out, reply);
  co_return false;
}

asio::awaitable<void> Gateway::sign_in(net::IncomingRequest& in, net::ResponseWriter& out) {
  const net::HeaderList page_headers = {{"cache-control", "no-store"},
                                        {"x-content-type-options", "nosniff"},
                                        {"x-frame-options", "DENY"}};
  Reply reply{200, "text/html; charset=utf-8", page_headers, {}};
  if (in.method() != "POST") {
    reply.body = sign_in_page("");
  } else if (std::optional<std::string> cookie = access_->sign_in(
                 form_value(in.body(), "token"), forwarded_https(in.header("x-forwarded-proto")))) {
    reply = Reply{303, "text/plain", {{"location", "/dashboard"}, {"set-cookie", *cookie},
                                      {"cache-control", "no-store"}}, "signed in\n"};
  } else {
    spdlog::warn("dashboard sign-in refused: wrong admin token");
    reply.status = 401;
    reply.body = sign_in_page("That is not the admin token.");
  }
  co_await send_reply(out, reply);
}

Gateway::KeyAdmission Gateway::admit_key(
    const control::ApiKey& key, std::string_view model,
    const std::function<AccessControl::WorstCase()>& worst_case, int64_t now_ms, bool cached) {
  if (Result<void> allowed = AccessControl::check_allowed(key, model); !allowed) {
    return allowed.error();
  }
  if (!has_limits(key.limits)) return control::Reservation();
  AccessControl::WorstCase worst;
  if (!cached && (key.limits.tokens_per_minute > 0 || key.limits.usd_per_day > 0 ||
                  key.limits.usd_per_month > 0)) {
    worst = worst_case();
  }
  control::LimitBackend& backend = access_->limits();
  if (!backend.completes_inline()) {
    control::OwnedReserveRequest request;
    request.key_id = key.id;
    request.key_name = key.name;
    request.limits = key.limits;
    request.now_unix_ms = now_ms;
    request.tokens = std::max<int64_t>(0, worst.tokens);
    request.nano_usd = control::usd_to_nanos(worst.usd);
    return request;
  }
  auto reserved = control::reserve(backend, key, now_ms, worst.tokens, worst.usd);
  if (auto* refusal = std::get_if<control::LimitRefusal>(&reserved)) {
    return control::limit_error(*refusal);
  }
  return std::get<control::Reservation>(std::move(reserved));
}

asio::awaitable<Gateway::KeyAdmission> Gateway::reserve_remote(
    control::OwnedReserveRequest request) {
  control::LimitBackend& backend = access_->limits();
  control::ReserveOutcome outcome = co_await async_reserve(backend, std::move(request));
  if (auto* refusal = std::get_if<control::LimitRefusal>(&outcome)) {
    co_return control::limit_error(*refusal);
  }
  co_return control::Reservation(&backend, std::get<control::ReservationTicket>(std::move(outcome)));
}

std::optional<Error> Gateway::identify(net::IncomingRequest& in, core::Trace& trace,
                                       std::shared_ptr<const control::ApiKey>& key) {
  trace.cohort = std::string(in.header("x-triage-cohort"));
  if (!access_->keys_required()) {
    trace.api_key_id = api_key_id(in.header("authorization"), in.header("x-api-key"));
    return std::nullopt;
  }
  Result<std::shared_ptr<const control::ApiKey>> found = access_->client_key(in);
  if (!found) return found.error();
  key = std::move(found).value();
  trace.api_key_id = key->id;
  trace.api_key_name = key->name;
  if (!key->cohort.empty()) trace.cohort = key->cohort;
  return std::nullopt;
}

std::optional<Error> Gateway::check_envelope(const config::Config& cfg,
                                             net::IncomingRequest& in) const {
  if (in.body_too_large()) {
    return make_error(ErrorCode::kPayloadTooLarge,
                      "request body is larger than the limit of " +
                          std::to_string(cfg.server.max_body_bytes) +
                          " bytes; send a smaller request or raise server.max_body_bytes");
  }
  const std::string_view content_type = in.header("content-type");
  if (content_type.empty()) {
    return make_error(ErrorCode::kUnsupportedMedia,
                      "missing Content-Type; send the body as JSON with "
                      "'Content-Type: application/json'");
  }
  if (!is_json_content_type(content_type)) {
    return make_error(ErrorCode::kUnsupportedMedia,
                      "unsupported Content-Type '" + std::string(content_type) +
                          "'; send the body as JSON with 'Content-Type: application/json'");
  }
  return std::nullopt;
}

asio::awaitable<void> Gateway::chat(net::IncomingRequest& in, net::ResponseWriter& out,
                                    const api::Dialect& dialect) {
  const SteadyTime start = SteadyClock::now();
  // The config version this request runs on, held to its end (streams and shadow work too).
  const std::shared_ptr<const Serving> serving = versions_->current();
  const config::Config& cfg = serving->cfg();
  routes::RouteTable& routes = serving->routes();
  core::Trace trace;
  trace.api = dialect.api;
  trace.config_version = serving->version.seq;
  trace.time_ms = unix_time_ms();
  trace.request_id = "req_" + time_ordered_hex_id(trace.time_ms);
  std::shared_ptr<const control::ApiKey> key;
  if (std::optional<Error> unknown = identify(in, trace, key)) {
    co_await respond_error(trace, start, out, *unknown, dialect);
    co_return;
  }

  if (std::optional<Error> bad = check_envelope(cfg, in)) {
    co_await respond_error(trace, start, out, *bad, dialect);
    co_return;
  }

  Result<core::ChatRequest> parsed = dialect.parse(in.body());
  if (!parsed) {
    co_await respond_error(trace, start, out, parsed.error(), dialect);
    co_return;
  }
  core::ChatRequest& req = parsed.value();
  if (cfg.server.cancel_on_disconnect) {
    req.meta.cancellation = std::make_shared<Cancellation>();
    // A raw pointer (no allocation, no reference count): the callback can only run while this
    // handler is suspended, and the server drops it before the handler's frame goes away.
    in.on_client_gone([c = req.meta.cancellation.get()] { c->cancel(); });
  }
  req.meta.request_id = trace.request_id;
  req.meta.api_key_id = trace.api_key_id;
  req.meta.cohort = trace.cohort;
  if (auto cat = in.header("x-triage-category"); !cat.empty()) req.meta.category = std::string(cat);
  trace.category = req.meta.category;
  trace.user = req.meta.user;
  trace.requested_model = req.model;
  trace.stream = req.stream;
  capture_prompt(cfg, trace, req);

  routes::Route* route = routes.find(req.model);
  if (!route) {
    const Error unknown = make_error(ErrorCode::kNotFound,
                                     "The model '" + req.model +
                                         "' does not exist in this Triage gateway; GET /v1/models "
                                         "lists the models and routes you can use",
                                     {}, "model");
    co_await respond_error(trace, start, out, unknown, dialect);
    co_return;
  }
  const routes::ModelRuntime* direct = routes.find_model(req.model);
  if (direct && direct->model().kind == config::ModelKind::kEmbedding) {
    const Error embedding = make_error(ErrorCode::kInvalidRequest,
                                       "The model '" + req.model +
                                           "' is an embedding model; call it on POST /v1/embeddings",
                                       {}, "model");
    co_await respond_error(trace, start, out, embedding, dialect);
    co_return;
  }
  if (!direct) trace.route = req.model;

  // --- Response cache (docs/cache.md): a hit, or the answer of an identical request in
  // flight (coalescing), is answered here without any upstream call.
  const CachePlan cache_plan = serving->cache->plan(req, trace.api_key_id, in.header("cache-control"));
  trace.cache = cache_plan.outcome;
  std::optional<cache::FlightLeader> cache_leader;  // lands empty if this request fails
  if (cache_plan.read) {
    cache::AnswerPtr hit = cache_plan.cache->get(cache_plan.key, cache_now_ms());
    if (!hit) {
      const SteadyTime wait_until = start + std::chrono::milliseconds(cfg.server.request_timeout_ms);
      cache::ResponseCache::Joined joined =
          co_await cache_plan.cache->join(cache_plan.key, cache_now_ms(), wait_until);
      if (joined.lead) cache_leader.emplace(*cache_plan.cache, std::move(joined.lead));
      hit = std::move(joined.answer);
    }
    if (hit) {
      co_await answer_hit(out, trace, start, req, dialect, key.get(), *hit);
      co_return;
    }
  }
  // Stores a complete answer (as the leader: also hands it to the followers).
  auto cache_store = [&](const core::Completion& answer) {
    if (!cache_plan.write) return;
    cache::AnswerPtr entry = storable_answer(trace, answer);
    if (cache_leader) {
      cache_leader->land(std::move(entry), cache_now_ms());
    } else if (entry) {
      cache_plan.cache->put(cache_plan.key, std::move(entry), cache_now_ms());
    }
  };
  // --- end of response cache

  control::Reservation hold;  // settled by finish(), whatever way the request ends
  if (key) {
    const auto worst = [&] {
      return AccessControl::worst_case(in.body().size(), req, routes.reachable_models(req.model));
    };
    KeyAdmission admitted = admit_key(*key, req.model, worst, trace.time_ms);
    if (std::holds_alternative<control::OwnedReserveRequest>(admitted)) {
      control::OwnedReserveRequest request = std::get<control::OwnedReserveRequest>(std::move(admitted));
      KeyAdmission remote = co_await reserve_remote(std::move(request));
      admitted = std::move(remote);
    }
    if (auto* refused = std::get_if<Error>(&admitted)) {
      co_await respond_error(trace, start, out, *refused, dialect);
      co_return;
    }
    hold = std::get<control::Reservation>(std::move(admitted));
  }

  // x-triage-timeout-ms: the client's deadline, bounded by the server's (docs/resilience.md).
  const Result<int64_t> timeout_ms =
      request_timeout_ms(in.header("x-triage-timeout-ms"), cfg.server.request_timeout_ms);
  if (!timeout_ms) {
    co_await respond_error(trace, start, out, timeout_ms.error(), dialect);
    co_return;
  }
  routes::ExecContext ctx{trace, start, start + std::chrono::milliseconds(*timeout_ms)};
  std::optional<ReservationAdmission> admission;  // each model call against the reservation
  if (hold.active()) {
    admission.emplace(hold, *key);
    ctx.admission = &*admission;
  }
  // Derived traces (shadow runs) go to the same sinks as finish(); they arrive with total_us
  // set by the route, possibly after this request finished (`this` outlives it: see
  // shadow_route.h on draining). The detached shadow work holds a copy of this callback, and
  // so the snapshot its routes belong to.
  ctx.emit_derived = [this, serving](core::Trace&& derived) {
    const int64_t total_us = derived.total_us;
    sinks_.publish(std::move(derived), total_us);
  };
  const int64_t created_s = trace.time_ms / 1000;

  if (!req.stream) {
    Result<core::Completion> result = co_await route->run(req, ctx, nullptr);
    if (!result) {
      co_await respond_error(trace, start, out, result.error(), dialect, &hold);
      co_return;
    }
    trace.finish_reason = result->finish_reason;
    if (trace.keep_payloads) trace.response_text = result->content;
    cache_store(result.value());
    // The answer reports the split as of now; finish() completes it again after the write.
    core::complete_latency_split(trace, micros_between(start, SteadyClock::now()));
    std::string body = dialect.render(req, api::response_info(trace, created_s), result.value());
    net::HeaderList headers = triage_headers(trace);
    headers.emplace_back("x-triage-cost-usd", format_usd(trace.cost_usd));
    Reply reply{200, "application/json", std::move(headers), std::move(body)};
    // Settled before the write: a client that has its answer and asks again finds this
    // request's cost spent, not its worst-case reservation still held.
    hold.settle(trace.tokens_in + trace.tokens_out, trace.cost_usd);
    const bool delivered = co_await send_reply(out, reply);
    if (!delivered) {
      trace.error_code = std::string(error_code_name(ErrorCode::kCancelled));
      trace.error_message = "client went away before the response was written";
    }
    finish(trace, start);
    co_return;
  }

  SseSink sink(out, trace, start, created_s, dialect.stream(req));
  Result<core::Completion> result = co_await route->run(req, ctx, &sink);
  if (!result) {
    if (!sink.started()) {
      co_await respond_error(trace, start, out, result.error(), dialect, &hold);
      co_return;
    }
    record_error(trace, result.error());
    charge_sent(cfg, trace, req, sink);
    const Error public_error = for_client(result.error(), trace);
    co_await sink.fail(public_error);
    finish(trace, start, &hold);
    co_return;
  }
  trace.finish_reason = result->finish_reason;
  if (trace.keep_payloads) trace.response_text = result->content;
  hold.settle(trace.tokens_in + trace.tokens_out, trace.cost_usd);  // before the last event
  const bool delivered = co_await sink.finish(result.value());
  if (!delivered) {
    trace.error_code = std::string(error_code_name(ErrorCode::kCancelled));
    trace.error_message = "client went away during the stream";
  }
  cache_store(result.value());  // only a stream that reached its end (error_code empty)
  finish(trace, start);
}

asio::awaitable<void> Gateway::answer_hit(net::ResponseWriter& out, core::Trace& trace,
                                          SteadyTime start, core::ChatRequest& req,
                                          const api::Dialect& dialect, const control::ApiKey* key,
                                          const cache::CachedAnswer& answer) {
  control::Reservation hold;  // requests per minute only: a hit spends no tokens or money
  if (key) {
    KeyAdmission admitted = admit_key(*key, req.model, {}, trace.time_ms, /*cached=*/true);
    if (std::holds_alternative<control::OwnedReserveRequest>(admitted)) {
      control::OwnedReserveRequest request = std::get<control::OwnedReserveRequest>(std::move(admitted));
      KeyAdmission remote = co_await reserve_remote(std::move(request));
      admitted = std::move(remote);
    }
    if (auto* refused = std::get_if<Error>(&admitted)) {
      trace.cache = core::CacheOutcome::kNone;  // refused before the cache answered
      co_await respond_error(trace, start, out, *refused, dialect);
      co_return;
    }
    hold = std::get<control::Reservation>(std::move(admitted));
  }
  record_hit(trace, answer);
  const bool delivered = co_await send_hit(out, trace, start, req, dialect, answer);
  if (!delivered) {
    trace.error_code = std::string(error_code_name(ErrorCode::kCancelled));
    trace.error_message = "client went away before the cached answer was written";
  }
  hold.settle(0, 0.0);
  finish(trace, start);
}

}  // namespace triage::server

#pragma once
// The gateway: HTTP endpoints on top of the route table, with every chat request turned into
// a Trace that goes to the trace sinks (metrics, request store, review queue, OTLP export).
// Built once at start-up; handle() is called concurrently from every I/O thread.
#include <atomic>
#include <functional>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "api/dialect.h"
#include "common/periodic_worker.h"
#include "config/config.h"
#include "core/trace.h"
#include "net/http_server.h"
#include "providers/provider.h"
#include "routes/route_table.h"
#include "server/access_control.h"
#include "server/admin_api.h"
#include "server/config_api.h"
#include "server/config_versions.h"
#include "server/leadership.h"
#include "server/cache_front.h"
#include "server/dashboard_api.h"
#include "server/keys_api.h"
#include "server/limit_metrics.h"
#include "server/knobs_api.h"
#include "server/rollouts.h"
#include "server/rollouts_api.h"
#include "server/slo_controller.h"
#include "server/slos_api.h"
#include "server/trace_sinks.h"
#include "telemetry/metrics.h"
#include "telemetry/otlp_exporter.h"
#include "telemetry/request_store.h"
#include "telemetry/review_sink.h"

namespace triage::server {

// A complete non-streaming answer.
struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  net::HeaderList headers;
  std::string body;
};

class Gateway {
 public:
  // Builds providers, routes and the store. Throws config::ConfigError or std::runtime_error
  // with a message that says what to fix. `adjust` is applied to every config reloaded later
  // (the command line's overrides, as `serve` applied them to `cfg`). `cfg` must outlive the
  // gateway (the store, metrics and admin APIs keep reading it: restart-only settings).
  Gateway(const config::Config& cfg, const providers::EnvLookup& env,
          engine::ConfigAdjust adjust = {});
  ~Gateway();

  boost::asio::awaitable<void> handle(net::IncomingRequest& in, net::ResponseWriter& out);

  // Adds a sink after the built-in ones (metrics, store, review queue, OTLP export, rollouts,
  // in that order): it gets every finished trace, derived ones included. Call before the server starts
  // (not thread-safe with handle()); the sink must outlive the gateway.
  void add_sink(core::TraceSink& sink) { sinks_.add(sink); }

  // While draining, /readyz answers 503 so load balancers stop sending traffic.
  void set_draining() { draining_.store(true); }
  // Starts the SLO controller's timer (docs/slo.md); call when the server starts.
  void start_controller() { slo_controller_->start(); }
  // Flushes the request store; call after the HTTP server has stopped.
  void close();

  telemetry::Metrics& metrics() { return *metrics_; }
  telemetry::RequestStore& store() { return *store_; }
  // The config version serving new requests (docs/config_versions.md); hot reload.
  ConfigVersions& versions() { return *versions_; }
  std::shared_ptr<const Serving> serving() const { return versions_->current(); }
  AccessControl& access() { return *access_; }

 private:
  // The one request pipeline (keys, limits, routes, traces) of every client dialect.
  boost::asio::awaitable<void> chat(net::IncomingRequest& in, net::ResponseWriter& out,
                                    const api::Dialect& dialect);
  // POST /v1/embeddings (gateway_embeddings.cc): the same keys, allow-lists, reservations,
  // traces, store and metrics as chat, for a catalog model of kind: embedding.
  boost::asio::awaitable<void> embeddings(net::IncomingRequest& in, net::ResponseWriter& out);
  // The fast 503 (with Retry-After) of a client API request that arrived while its I/O thread
  // was at server.max_requests_per_thread, in the dialect's error shape.
  boost::asio::awaitable<void> refuse_over_capacity(net::ResponseWriter& out,
                                                    const api::Dialect& dialect);
  // GET /admin/fleet (docs/scaling.md): this replica, the leader it sees, its config version.
  Reply fleet_reply(std::string_view method) const;
  // Non-chat endpoints and protocol errors; no I/O.
  Reply simple_reply(net::IncomingRequest& in, std::string_view target,
                            std::string_view method, bool chat_path) const;
  // GET /v1/models (empty `id`): the list, only what `key` may call when it has an allow-list;
  // GET /v1/models/{id}: the model or route object, or a 404 (also for one the client's key may
  // not use). `key` is null without keys.
  Reply model_reply(const Serving& serving, std::string_view id,
                    const control::ApiKey* key) const;
  // Size and content-type problems of a chat request, before its body is parsed.
  std::optional<Error> check_envelope(const config::Config& cfg, net::IncomingRequest& in) const;
  // Records `e` in the trace, finishes it and answers with the error in the dialect's shape
  // (Retry-After from e.retry_after_s).
  boost::asio::awaitable<void> respond_error(core::Trace& trace, SteadyTime start,
                                             net::ResponseWriter& out, const Error& e,
                                             const api::Dialect& dialect,
                                             control::Reservation* hold = nullptr);
  // Settles the request's reservation (if any) to the trace's tokens and cost, then hands the
  // trace to the sinks, with its latency split completed now. Exactly once per request.
  void finish(core::Trace& trace, SteadyTime start, control::Reservation* hold = nullptr);
  // Who the request is (auth): the checks of each endpoint group, before its handler runs.
  // Answers and returns false when the request may not go on.
  boost::asio::awaitable<bool> admit_admin(net::IncomingRequest& in, net::ResponseWriter& out);
  // The dashboard's sign-in: GET shows the form, POST checks the token and sets the cookie.
  boost::asio::awaitable<void> sign_in(net::IncomingRequest& in, net::ResponseWriter& out);
  // A request's key against its allow-list (403) and its limits and budgets (429 +
  // Retry-After): the reservation of the request's worst case (inactive for a key without
  // limits), or the refusal to answer with.
  // `worst` prices the request's worst case (called only when the key has a token or money
  // limit); `model` is the request's `model` field. A cache hit (`cached`) is checked against
  // the allow-list and counted against the key's request rate, but reserves no tokens or money.
  // With a limit backend that does not answer inline (Redis), the third alternative: the
  // reservation to make, which reserve_remote() awaits without blocking the I/O thread. The
  // in-memory backend always answers here, at no extra cost.
  using KeyAdmission = std::variant<control::Reservation, Error, control::OwnedReserveRequest>;
  KeyAdmission admit_key(const control::ApiKey& key, std::string_view model,
                         const std::function<AccessControl::WorstCase()>& worst, int64_t now_ms,
                         bool cached = false);
  boost::asio::awaitable<KeyAdmission> reserve_remote(control::OwnedReserveRequest request);
  // Who is calling: the client key (when keys are required; an Error to answer with when it is
  // missing or unknown) or the hashed bearer token, recorded on the trace with the cohort.
  std::optional<Error> identify(net::IncomingRequest& in, core::Trace& trace,
                                std::shared_ptr<const control::ApiKey>& key);
  // Answers a cache hit: admission (`key` may be null), the hit's trace at $0, the answer in
  // the client's dialect (server/cache_front.h).
  boost::asio::awaitable<void> answer_hit(net::ResponseWriter& out, core::Trace& trace,
                                          SteadyTime start, core::ChatRequest& req,
                                          const api::Dialect& dialect, const control::ApiKey* key,
                                          const cache::CachedAnswer& answer);

  // Start-up settings only (restart-only: server listener, store, otel); everything a reload
  // may change is read from the request's Serving snapshot.
  const config::Config& cfg_;
  std::unique_ptr<telemetry::Metrics> metrics_;
  // OTLP trace export; null unless the config has `otel:`. Declared after metrics_ (its
  // counters live in metrics_'s registry), so it is destroyed first.
  std::unique_ptr<telemetry::OtlpExporter> otlp_;
  std::unique_ptr<telemetry::RequestStore> store_;
  std::unique_ptr<telemetry::ReviewSink> review_sink_;  // queues into store_
  std::unique_ptr<AdminApi> admin_;                     // /v1/feedback, /v1/review
  std::unique_ptr<DashboardApi> dashboard_;             // /dashboard, /v1/dashboard/...
  std::unique_ptr<AccessControl> access_;               // keys, limits, admin credential
  std::unique_ptr<LimitBackendMetrics> limit_metrics_;  // the shared limit backend's, if any
  std::unique_ptr<KeysApi> keys_api_;                   // /admin/keys
  // The serving snapshot (config, providers, routes, keys, models list) and hot reload.
  std::unique_ptr<ConfigVersions> versions_;
  std::unique_ptr<ConfigApi> config_api_;  // /admin/config
  // store.config_poll_ms > 0: adopts versions other replicas applied (ConfigVersions::follow_store).
  std::unique_ptr<PeriodicWorker> config_follower_;
  // Which replica of a fleet runs the controllers (always this one outside a fleet).
  std::unique_ptr<Leadership> leadership_;
  std::unique_ptr<KnobMoves> knob_moves_;  // every run-time knob move (admin, controller, rollout)
  std::unique_ptr<KnobsApi> knobs_api_;    // /admin/knobs
  // store.config_poll_ms > 0: window counts shared with the other replicas (a worker thread);
  // declared before their users (rollouts_, slo_controller_), so it outlives them.
  std::unique_ptr<FleetWindows> fleet_windows_;
  std::unique_ptr<Rollouts> rollouts_;        // progressive rollouts (a sink, a timer thread)
  std::unique_ptr<RolloutsApi> rollouts_api_;  // /admin/rollouts
  std::unique_ptr<SloController> slo_controller_;  // error budgets that move knobs (a sink)
  std::unique_ptr<SlosApi> slos_api_;              // /admin/slos
  // metrics_, store_, review_sink_, otlp_ (when set), rollouts_, slo_controller_, then
  // add_sink()s
  TraceSinkList sinks_;
  std::atomic<bool> draining_{false};
};

// `triage serve`: runs the gateway until SIGTERM/SIGINT, then drains and flushes; SIGHUP
// re-reads the config file and applies it (hot reload, `adjust` applied as to `cfg`). Prints
// "triage: listening on http://HOST:PORT" on stdout when ready. Returns the exit code.
int serve(config::Config cfg, engine::ConfigAdjust adjust = {});

}  // namespace triage::server

#include <prometheus/counter.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include "net/http_server.h"
#include "server/gateway.h"

namespace triage::server {

int serve(config::Config cfg, engine::ConfigAdjust adjust) {
  // Block the shutdown and reload signals before any thread starts, so that only sigwait()
  // below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  config::check_exposure(cfg);  // secure by default: no `auth:`, loopback only
  Gateway gateway(cfg, [](const char* name) -> const char* { return std::getenv(name); },
                  std::move(adjust));

  net::ServerOptions opts;
  opts.host = cfg.server.host;
  opts.port = static_cast<uint16_t>(cfg.server.port);
  opts.threads = cfg.server.threads > 0 ? cfg.server.threads
                                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  opts.max_body_bytes = static_cast<uint64_t>(cfg.server.max_body_bytes);
  opts.idle_timeout_ms = cfg.server.idle_timeout_ms;
  opts.busy_poll_us = cfg.server.busy_poll_us;
  opts.max_requests_per_thread = cfg.server.max_requests_per_thread;
  // triage_accept_errors_total{reason}: the server's accept failures (emfile: out of
  // descriptors), counted on the I/O threads; the server logs them and backs off.
  auto& accept_errors = prometheus::BuildCounter()
                            .Name("triage_accept_errors_total")
                            .Help("Failed accepts of client connections, by reason (emfile: the "
                                  "process is out of file descriptors)")
                            .Register(gateway.metrics().registry());
  for (const char* reason : {"emfile", "enfile", "enobufs", "other"}) {
    accept_errors.Add({{"reason", reason}});
  }
  opts.on_accept_error = [&accept_errors](std::string_view reason) {
    accept_errors.Add({{"reason", std::string(reason)}}).Increment();
  };
  net::HttpServer server(opts, [&gateway](net::IncomingRequest& in, net::ResponseWriter& out) {
    return gateway.handle(in, out);
  });
  gateway.start_controller();  // saved SLO positions are back before the first request
  server.start();
  {
    const std::shared_ptr<const Serving> serving = gateway.serving();
    spdlog::info("serving {} models and {} routes with {} threads; store: {}; config version {}",
                 serving->routes().models().size(), serving->routes().route_names().size(),
                 opts.threads, gateway.store().name(), serving->version.seq);
  }
  std::printf("triage: listening on http://%s:%u\n", opts.host.c_str(), server.port());
  std::fflush(stdout);

  int sig = 0;
  // SIGHUP: hot reload of the file (docs/config_versions.md), on this thread, off the I/O
  // threads; a refused file is logged and the running version keeps serving.
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    Result<config::ConfigVersion> applied = gateway.versions().reload_file("SIGHUP");
    if (applied) {
      std::printf("triage: config version %lld applied\n", static_cast<long long>(applied->seq));
      std::fflush(stdout);
    } else {
      spdlog::error("SIGHUP reload refused, version {} keeps serving: {}",
                    gateway.serving()->version.seq, applied.error().message);
    }
  }
  spdlog::info("received {}, draining (up to {} ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               cfg.server.shutdown_grace_ms);
  gateway.set_draining();
  server.stop_accepting();
  if (!server.wait_idle(cfg.server.shutdown_grace_ms)) {
    spdlog::warn("{} requests still in flight after the grace period; stopping anyway",
                 server.in_flight());
  }
  server.stop();
  gateway.close();
  spdlog::info("stopped: {} rows written to the request store, {} dropped",
               gateway.store().written(), gateway.store().dropped());
  return 0;
}

}  // namespace triage::server

#pragma once
// The dashboard (docs/dashboard.md): the page and its assets at GET /dashboard[/...], served
// from the binary (server/dashboard_assets.h), and the read-only JSON API it draws from,
// GET /v1/dashboard/{summary,timeseries,models,funnel,confidence} from the store, and
// GET /v1/dashboard/upstreams live from the running models (server/upstream_status.h). The review queue it shows
// is the admin API's (/v1/review). The Gateway owns one and hands it every request for which
// handles() is true.
//
// Threading: handle() runs on an I/O thread. Assets are answered there (no I/O, static
// memory); every API call (SQLite aggregation + JSON) runs on this class's worker pool, and
// the I/O coroutine resumes when it is done, as in server/admin_api.h.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "net/http_server.h"
#include "routes/route_table.h"
#include "server/admin_api.h"
#include "telemetry/dashboard_db.h"
#include "telemetry/request_store.h"
#include "telemetry/store_reader.h"

namespace triage::server {

// Success-rate target per model when the config names none: 99% of requests not failed by
// the gateway or the upstream (5xx).
inline constexpr double kDefaultSloTarget = 0.99;

class DashboardApi {
 public:
  // Opens its own reader of the configured store (telemetry/store_reader.h); with a store that
  // cannot be read back (store.type none, SQLite ':memory:') the API answers 503 saying why
  // (the page still loads). `store` must outlive this; it is flushed before each read
  // (read-your-writes). `routes` gives the route table serving now (hot reload: the pointer
  // keeps it alive while a call reads it); its config's models and prices are the ones shown.
  // Empty, or returning null: upstreams answers 503 and `cfg` is used.
  // Throws std::runtime_error when the store cannot be opened.
  using RoutesNow = std::function<std::shared_ptr<const routes::RouteTable>()>;
  DashboardApi(const config::Config& cfg, telemetry::RequestStore& store, RoutesNow routes = {},
               double slo_target = kDefaultSloTarget, int threads = 1);
  ~DashboardApi();  // close()

  // True for /dashboard, /dashboard/..., /v1/dashboard/... (any method).
  static bool handles(std::string_view path);

  boost::asio::awaitable<void> handle(net::IncomingRequest& in, net::ResponseWriter& out);

  // One API call, synchronously on the caller's thread (the worker, and tests). `now_ms` is
  // the default end of the range. Only GET /v1/dashboard/... (the assets are not here).
  AdminReply dispatch(const AdminJob& job, int64_t now_ms);

  // Waits for running jobs and stops the workers. Idempotent.
  void close();

 private:
  const config::Config& cfg_;
  telemetry::RequestStore& store_;
  RoutesNow routes_;
  double slo_target_;
  std::unique_ptr<telemetry::StoreReader> reader_;  // null: the store cannot be read back
  std::unique_ptr<telemetry::DashboardDb> db_;      // over reader_
  std::string unavailable_why_;
  boost::asio::thread_pool pool_;
};

}  // namespace triage::server

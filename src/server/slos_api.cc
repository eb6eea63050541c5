#include "server/slos_api.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "api/errors.h"
#include "common/clock.h"
#include "common/result.h"

namespace triage::server {

namespace asio = boost::asio;

namespace {

asio::awaitable<AdminReply> run_on_worker(SlosApi* api, AdminJob job) {
  co_return api->dispatch(job);
}

}  // namespace

SlosApi::~SlosApi() { close(); }

void SlosApi::close() { pool_.join(); }

bool SlosApi::handles(std::string_view path) { return path == "/admin/slos"; }

asio::awaitable<void> SlosApi::handle(net::IncomingRequest& in, net::ResponseWriter& out) {
  AdminJob job = admin_job(in);
  asio::awaitable<AdminReply> work = run_on_worker(this, std::move(job));
  AdminReply reply =
      co_await asio::co_spawn(pool_.get_executor(), std::move(work), asio::use_awaitable);
  co_await send_admin_reply(out, std::move(reply));
}

AdminReply SlosApi::dispatch(const AdminJob& job) {
  if (job.method != "GET") {
    api::HttpError r =
        api::error_response(make_error(ErrorCode::kMethodNotAllowed, "use GET for /admin/slos"));
    return AdminReply{r.status, std::move(r.body)};
  }
  return AdminReply{200, boost::json::serialize(controller_.status(unix_time_ms()))};
}

}  // namespace triage::server

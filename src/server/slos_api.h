#pragma once
// GET /admin/slos (docs/admin_api.md "SLOs"): every SLO of the serving config version with its
// window's numbers (requests, success ratio, burn rate, remaining budget) and the controller's
// state (position, the file's value, last move, verdict). The gateway checks the admin
// credential first.
//
// Threading: handle() runs on an I/O thread; the answer is built on this class's one worker
// (the controller's lock may be held across a store write while it moves a knob).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string_view>

#include "net/http_server.h"
#include "server/admin_api.h"
#include "server/slo_controller.h"

namespace triage::server {

class SlosApi {
 public:
  explicit SlosApi(SloController& controller) : controller_(controller) {}
  ~SlosApi();  // close()

  static bool handles(std::string_view path);  // /admin/slos
  boost::asio::awaitable<void> handle(net::IncomingRequest& in, net::ResponseWriter& out);
  AdminReply dispatch(const AdminJob& job);  // synchronously (the worker, and tests)
  void close();

 private:
  SloController& controller_;
  boost::asio::thread_pool pool_{1};
};

}  // namespace triage::server

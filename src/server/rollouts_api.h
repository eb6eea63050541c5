#pragma once
// Progressive rollouts at run time (docs/admin_api.md "Rollouts", docs/rollout.md):
//   GET  /admin/rollouts                       every rollout of the serving config: state,
//        step, share, weights, per-gate numbers for the candidate and the others, timeline
//   POST /admin/rollouts/start|pause|resume|abort   {"route"}: (re)starts the rollout in the
//        config, holds it at its step, lets it go on, or sends the candidate back to 0%
// The gateway checks the admin credential first.
//
// Threading: handle() runs on an I/O thread; the work (store reads and writes, knob moves)
// runs on this class's one worker thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string_view>

#include "net/http_server.h"
#include "server/admin_api.h"
#include "server/rollouts.h"

namespace triage::server {

class RolloutsApi {
 public:
  explicit RolloutsApi(Rollouts& rollouts) : rollouts_(rollouts) {}
  ~RolloutsApi();  // close()

  static bool handles(std::string_view path);  // /admin/rollouts, /admin/rollouts/...
  boost::asio::awaitable<void> handle(net::IncomingRequest& in, net::ResponseWriter& out);
  AdminReply dispatch(const AdminJob& job);  // synchronously (the worker, and tests)
  void close();

 private:
  AdminReply list();
  AdminReply command(std::string_view action, const AdminJob& job);

  Rollouts& rollouts_;
  boost::asio::thread_pool pool_{1};
};

}  // namespace triage::server

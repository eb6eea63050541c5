#pragma once
// Knobs at run time (docs/admin_api.md "Knobs"): every routes::Knob of the serving config
// version, listed and moved without a reload.
//   GET /admin/knobs   {"config_version", "data": [{"route", "knob", "value", "range": [lo, hi],
//                      "step", "set_by", "set_ms", "reason"}], "events": [...latest moves]}
//   PUT /admin/knobs   {"route", "knob", "value", "reason"?}: moves one knob within its range
// A move goes through server/knob_moves.h like the controller's and a rollout's: an event
// (who, why, before, after, config version) in the store's `knob_events`, counted in
// triage_knob_moves_total{route,knob}. It applies to the version serving now; a
// reload builds new routes, whose knobs start at the file's values. The gateway checks the
// admin credential first.
//
// Threading: handle() runs on an I/O thread; the work runs on this class's one worker thread,
// which serialises moves. The knobs themselves are atomics (routes/knob.h): a request reads
// one once, so a move affects whole requests only.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>
#include <string_view>

#include "net/http_server.h"
#include "server/admin_api.h"
#include "server/config_versions.h"
#include "server/knob_moves.h"

namespace triage::server {

class KnobsApi {
 public:
  KnobsApi(ConfigVersions& versions, KnobMoves& moves) : versions_(versions), moves_(moves) {}
  ~KnobsApi();  // close()

  static bool handles(std::string_view path);  // /admin/knobs
  boost::asio::awaitable<void> handle(net::IncomingRequest& in, net::ResponseWriter& out);
  AdminReply dispatch(const AdminJob& job);  // synchronously (the worker, and tests)
  void close();

 private:
  AdminReply list();
  AdminReply move(const AdminJob& job);

  ConfigVersions& versions_;
  KnobMoves& moves_;
  boost::asio::thread_pool pool_{1};
};

}  // namespace triage::server

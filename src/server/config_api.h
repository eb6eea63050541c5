#pragma once
// The config admin API (docs/admin_api.md, docs/config_versions.md):
//   GET  /admin/config             the versions, newest last (no YAML), and the current one
//   GET  /admin/config?seq=N       one version with its YAML
//   POST /admin/config             body: the new YAML; reason: x-triage-reason or ?reason=
//   POST /admin/config/rollback    {"seq": N, "reason": "..."}: re-applies N as a new version
// The gateway checks the admin credential first.
//
// Threading: handle() runs on an I/O thread; the work (validation, loading trained models,
// the fsynced history write) runs on this class's one worker thread.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>
#include <string_view>

#include "net/http_server.h"
#include "server/admin_api.h"
#include "server/config_versions.h"

namespace triage::server {

class ConfigApi {
 public:
  explicit ConfigApi(ConfigVersions& versions) : versions_(versions) {}
  ~ConfigApi();  // close()

  // /admin/config and /admin/config/...
  static bool handles(std::string_view path);
  boost::asio::awaitable<void> handle(net::IncomingRequest& in, net::ResponseWriter& out);
  // Synchronously (the worker, and tests). `reason_header`: x-triage-reason.
  AdminReply dispatch(const AdminJob& job, const std::string& reason_header);
  void close();

 private:
  AdminReply list(std::string_view query);
  AdminReply apply(const AdminJob& job, std::string reason);
  AdminReply rollback(const AdminJob& job);

  ConfigVersions& versions_;
  boost::asio::thread_pool pool_{1};
};

}  // namespace triage::server

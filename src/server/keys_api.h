#pragma once
// The keys admin API (docs/security.md): POST /admin/keys (create; the only answer that holds
// the secret), GET /admin/keys (list, never a secret), POST /admin/keys/{id}/disable|enable,
// DELETE /admin/keys/{id}. Keys created here are stored hashed in the request store (table
// api_keys) and loaded back at start-up; a change is committed before it is answered and
// applies to the next request at once. The gateway checks the admin credential first.
//
// Threading: handle() runs on an I/O thread; the work (SQLite, fsync) runs on this class's
// one worker thread, which also serialises changes.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "net/http_server.h"
#include "server/access_control.h"
#include "server/admin_api.h"
#include "telemetry/request_store.h"
#include "telemetry/store_reader.h"

namespace triage::server {

class KeysApi {
 public:
  // Opens its own writable reader of the configured store and registers every stored key with
  // `access` (source admin). Without a readable store the list shows config keys and changes
  // answer 503. `known_name(n)` says whether a route or model `n` exists (allow-lists are
  // checked against it). `store` is the gateway's request store (outlives this): its queued
  // rows are committed before spend is summed again. Throws std::runtime_error when the store
  // cannot be opened.
  KeysApi(const config::Config& cfg, AccessControl& access, telemetry::RequestStore& store,
          std::function<bool(std::string_view)> known_name);
  ~KeysApi();  // close()

  // /admin/keys and /admin/keys/...
  static bool handles(std::string_view path);
  boost::asio::awaitable<void> handle(net::IncomingRequest& in, net::ResponseWriter& out);
  AdminReply dispatch(const AdminJob& job);  // synchronously (the worker, and tests)
  void close();

 private:
  // Start-up: this UTC day's and month's spend per key, summed from the store, into the limits.
  // Throws when the store cannot be read.
  void restore_spend();
  // Again after the limit backend reconnected (a restarted Redis may have lost its counters):
  // on pool_, after the requests served so far are committed (their spend is in the rows the
  // writer may still hold), logging instead of throwing.
  void restore_spend_after_reconnect();
  AdminReply create(const AdminJob& job);
  AdminReply list() const;
  AdminReply set_disabled(const std::string& id, bool disabled);
  AdminReply remove(const std::string& id);

  AccessControl& access_;
  telemetry::RequestStore& store_;
  std::function<bool(std::string_view)> known_name_;
  std::unique_ptr<telemetry::StoreReader> reader_;  // null: keys cannot be persisted
  std::string unavailable_why_;
  boost::asio::thread_pool pool_{1};
};

}  // namespace triage::server

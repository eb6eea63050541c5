#pragma once
// The human-in-the-loop HTTP API (docs/admin_api.md): POST /v1/feedback, GET /v1/review,
// GET /v1/review/{request_id}, POST /v1/review/{request_id}/label. The Gateway owns one and
// hands it every request whose path starts with /v1/feedback or /v1/review.
//
// Threading: handle() runs on an I/O thread but does no blocking work there. The whole
// request (JSON parse, validation, SQLite, JSON answer) runs on a small worker pool owned by
// this class; the I/O coroutine resumes when the worker is done and then sends the answer.
// Feedback and labels are committed (fsynced) before the 200 is sent, so a 200 means the
// data survives a crash or SIGTERM right after it.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/chat.h"
#include "core/trace.h"
#include "net/http_server.h"
#include "telemetry/request_store.h"
#include "telemetry/review_db.h"
#include "telemetry/store_reader.h"

namespace triage::server {

// What a worker produces; sent by the I/O thread.
struct AdminReply {
  int status = 200;
  std::string body;  // application/json
};

// A request copied off the I/O thread's buffers, for the worker.
struct AdminJob {
  std::string method;
  std::string target;  // path + query
  std::string content_type;
  std::string body;
  bool body_too_large = false;
  std::string api_key_id;  // the client key of a /v1/feedback request, else empty
  // Who acts, for the events an admin request records (config versions, knob moves, rollout
  // commands): "admin", or "admin:NAME" with the x-triage-actor header (the admin token
  // authenticates; the header names the person or tool behind it).
  std::string actor = "admin";
  std::string actor_error;  // non-empty: x-triage-actor was malformed (the 400's message)
};

// The header naming who is behind an admin request, and its check: 1 to 64 of letters,
// digits and . _ @ + - (an e-mail address or a tool's name; nothing that needs escaping).
inline constexpr std::string_view kActorHeader = "x-triage-actor";
// "admin" for an empty header, "admin:NAME" for a good one, nullopt for a malformed one.
std::optional<std::string> admin_actor(std::string_view header);

// The request as a job for a worker: method, target, content type and the body (moved out of
// `in`). Shared by every admin-side API (feedback/review, keys, config, knobs).
AdminJob admin_job(net::IncomingRequest& in);
// Sends a worker's reply as JSON, never cached (it holds stored or live operator data).
boost::asio::awaitable<void> send_admin_reply(net::ResponseWriter& out, AdminReply reply);

class AdminApi {
 public:
  // Opens its own reader of the configured store with review writes (telemetry/
  // store_reader.h); with a store that cannot be read back (store.type none, SQLite ':memory:')
  // the endpoints answer 503 saying why. `store` must outlive this (it is flushed when feedback
  // names a request not yet written). Throws std::runtime_error when the store cannot be opened.
  AdminApi(const config::Config& cfg, telemetry::RequestStore& store, int threads = 2);
  ~AdminApi();  // close()

  // True for the paths this API serves (any method): /v1/feedback, /v1/review, /v1/review/...
  static bool handles(std::string_view path);

  // `feedback_key_id`: the client key of a /v1/feedback request (its own requests only); empty
  // for an operator or a gateway without keys. The gateway checks credentials before this.
  boost::asio::awaitable<void> handle(net::IncomingRequest& in, net::ResponseWriter& out,
                                      std::string feedback_key_id = {});

  // The same, synchronously on the caller's thread (for tests and the worker).
  AdminReply dispatch(const AdminJob& job);

  // Waits for running jobs and stops the workers. Idempotent.
  void close();

  // Who hears of feedback and labels once they are committed (the SLO controller, docs/slo.md):
  // called on a worker with the request id and the score, or the verdict ("correct": true) and
  // sufficient_tier. Set before the server starts.
  struct LateNews {
    std::function<void(const std::string&, double)> feedback;
    std::function<void(const std::string&, bool, const std::string&)> label;
  };
  void set_late_news(LateNews news) { late_news_ = std::move(news); }

 private:
  AdminReply feedback(const AdminJob& job);
  AdminReply list(std::string_view target);
  AdminReply detail(const std::string& request_id);
  AdminReply label(const std::string& request_id, const AdminJob& job);
  // Runs a write that needs the request's row; on kNotFound flushes the store and retries
  // with back-off (~0.5 s in all) in case the request finished a moment ago. Worker only.
  Result<int64_t> with_recent_request(const std::function<Result<int64_t>()>& write);

  const config::Config& cfg_;
  telemetry::RequestStore& store_;
  std::unique_ptr<telemetry::StoreReader> reader_;  // null: the store cannot be read back
  telemetry::ReviewDb* db_ = nullptr;               // reader_'s review queue
  std::string unavailable_why_;
  LateNews late_news_;
  boost::asio::thread_pool pool_;
};

// Payload capture for the review queue (config store.keep_payloads): marks the trace and
// records the request's messages, as sent, in trace.prompt_json. No-op when disabled. Called
// by the gateway on the request's thread after parsing.
void capture_prompt(const config::Config& cfg, core::Trace& trace, const core::ChatRequest& req);

}  // namespace triage::server

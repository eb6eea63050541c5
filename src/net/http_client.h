#pragma once
// Pooled asynchronous HTTP/1.1 client for upstream model servers (Beast underneath; this header
// stays free of Beast so that providers compile quickly).
//
// Pooling: keep-alive connections are kept per io_context (one io_context per I/O thread in the
// server), keyed by the endpoint's origin, at most `max_idle_per_origin` each, and closed once
// idle longer than `idle_timeout` (when next looked at: the next call to that origin, or
// close_idle_connections, which the server runs every second on each I/O thread). A request
// that fails on a *reused* connection before any response byte arrived (the upstream closed an
// idle keep-alive) is retried once on a fresh connection; nothing else is ever retried.
//
// Deadlines: every operation of a call (resolve, connect, TLS handshake, write, each read) stops
// at the call's deadline with kUpstreamTimeout. Errors name the endpoint's origin, never headers.
//
// Threading: an HttpClient is immutable after construction and may be shared by all threads.
// Calls run on the calling coroutine's executor; an HttpStream belongs to the coroutine that
// opened it and must be destroyed on that io_context's thread, before its HttpClient.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/cancellation.h"
#include "common/clock.h"
#include "common/result.h"
#include "net/endpoint.h"

namespace boost::asio {
class execution_context;
}

namespace triage::net {

struct HttpHeader {
  std::string_view name;
  std::string_view value;  // must not contain CR or LF
};

struct HttpRequest {
  std::string_view method = "POST";
  std::string_view target;  // origin-form: "/v1/chat/completions"
  std::string_view content_type = "application/json";
  std::span<const HttpHeader> headers;  // Host and Content-Length are added by the client
  std::string_view body;
  // When set, cancel() aborts whatever this request is waiting for (connect excepted: it has
  // its own short deadline) and the call fails with kCancelled; a cancelled request never
  // starts. Must outlive the call and its HttpStream.
  Cancellation* cancellation = nullptr;
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

struct HttpClientOptions {
  // Largest response body accepted (whole responses and streams); larger -> kUpstreamError.
  std::size_t max_body_bytes = std::size_t{64} << 20;
  // Idle keep-alive connections kept per origin and io_context; more are closed on release.
  // High enough that a burst's connections all stay for the next one (a new connection, and
  // a TLS handshake on a real provider, per request above the pool was the c=512 throughput
  // loss); those a burst leaves behind close once idle_timeout old.
  std::size_t max_idle_per_origin = 1024;
  // Idle connections older than this are closed instead of reused (servers drop them too),
  // and by close_idle_connections without a call.
  std::chrono::milliseconds idle_timeout{30000};
};

class HttpClient;
struct UpstreamConnection;

// A response whose body is read incrementally. Once the body has been read to its end the
// connection returns to the pool (when keep-alive); destroying the stream earlier closes it.
class HttpStream {
 public:
  HttpStream(HttpStream&&) noexcept;
  HttpStream& operator=(HttpStream&&) noexcept;
  ~HttpStream();

  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  // The raw `Retry-After` and `retry-after-ms` headers ("" when absent), for
  // control::parse_retry_after.
  const std::string& retry_after() const { return retry_after_; }
  const std::string& retry_after_ms() const { return retry_after_ms_; }
  bool done() const { return done_; }

  // The next body bytes as they arrive (a chunk of a chunked body, or whatever one socket read
  // returned). An empty view means the body is complete. The view is valid until the next call.
  boost::asio::awaitable<Result<std::string_view>> next();
  // The caller wants no more body (e.g. an SSE stream sent its terminal event). If what is left
  // of the body has already arrived and carries no data (the final chunk), the connection goes
  // back to the pool; otherwise it is closed. Never waits. The stream is done afterwards.
  void release();
  // Reads the rest of the body into a string; bodies over `limit` bytes -> kUpstreamError.
  boost::asio::awaitable<Result<std::string>> read_rest(std::size_t limit);

 private:
  friend class HttpClient;
  HttpStream(const HttpClient* client, std::unique_ptr<UpstreamConnection> conn, SteadyTime start,
             SteadyTime deadline, Cancellation* cancellation);
  void finish();
  // The error of a failed read: kCancelled when the request was cancelled, else the transport
  // error of `ec`. Drops the connection.
  Error read_failed(const boost::system::error_code& ec, std::size_t limit);

  const HttpClient* client_ = nullptr;
  std::unique_ptr<UpstreamConnection> conn_;
  SteadyTime start_{};
  SteadyTime deadline_{};
  Cancellation* cancellation_ = nullptr;
  int status_ = 0;
  std::string content_type_;
  std::string retry_after_;
  std::string retry_after_ms_;
  bool done_ = false;
  bool pending_finish_ = false;  // body complete; pool the connection on the next call
};

class HttpClient {
 public:
  explicit HttpClient(Endpoint endpoint, HttpClientOptions options = {});
  ~HttpClient();

  const Endpoint& endpoint() const { return endpoint_; }
  const HttpClientOptions& options() const { return options_; }

  // Sends the request and reads the whole response (any status).
  boost::asio::awaitable<Result<HttpResponse>> request(const HttpRequest& req,
                                                       SteadyTime deadline) const;
  // Sends the request and returns as soon as the status line and headers have arrived.
  boost::asio::awaitable<Result<HttpStream>> open(const HttpRequest& req,
                                                  SteadyTime deadline) const;

 private:
  friend class HttpStream;
  Endpoint endpoint_;
  HttpClientOptions options_;
};

// Counters of one io_context's pool, for tests and metrics. Call on that context's thread.
struct PoolStats {
  std::size_t idle = 0;        // idle connections across origins
  uint64_t connects = 0;       // new connections established
  uint64_t reuses = 0;         // requests sent on a pooled connection
  uint64_t stale_retries = 0;  // reused connections that failed and were retried once
};
PoolStats pool_stats(boost::asio::execution_context& ctx);

// Closes the pooled connections of `ctx` idle past their client's idle_timeout at `now`, and
// returns how many. Without it they close only when their origin is called again: after a
// burst, up to max_idle_per_origin sockets per origin and I/O thread would stay open (in
// CLOSE_WAIT once the upstream drops them). Call on that context's thread; cheap when nothing
// is pooled.
std::size_t close_idle_connections(boost::asio::execution_context& ctx, SteadyTime now);

}  // namespace triage::net

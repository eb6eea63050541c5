#pragma once
// The HTTP/1.1 server (Beast, C++20 coroutines) behind a small interface, so that only this
// module compiles Beast headers. One io_context and one SO_REUSEPORT acceptor per thread: a
// connection lives on one thread for its whole life, and per-thread state (upstream pools)
// needs no locks.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace triage::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A request as the handler sees it. Valid for the duration of the handler call.
class IncomingRequest {
 public:
  virtual ~IncomingRequest() = default;
  virtual std::string_view method() const = 0;
  virtual std::string_view target() const = 0;  // path + query
  virtual std::string_view header(std::string_view name) const = 0;  // "" when absent
  virtual std::string& body() = 0;
  // True when the body was larger than the limit and was not read (answer 413; the
  // connection is closed after the response).
  virtual bool body_too_large() const = 0;
  // Non-empty when the request could not be parsed as HTTP (answer 400 and close).
  virtual std::string_view malformed() const = 0;
  // Calls `gone` (on the handler's thread, at most once) if the client closes its connection
  // before the handler returns; detected by the connection sweep, so within about one tick
  // after the request has run for one tick. The default ignores it (no connection to watch).
  virtual void on_client_gone(std::function<void()> gone) { (void)gone; }
  // True when this request's I/O thread already had ServerOptions::max_requests_per_thread
  // requests in flight when it arrived: answer at once (503) instead of doing the work. It is
  // not counted in flight itself.
  virtual bool over_capacity() const { return false; }
  // True when the client's address is a loopback one (127.0.0.0/8, ::1, v4-mapped 127/8): the
  // gateway keeps operator endpoints to such clients when no admin token is configured.
  virtual bool from_loopback() const { return false; }
};

// How the handler answers: either one send(), or start_stream() + write_chunk()* +
// finish_stream(). Each returns false when the client has gone away (stop working then).
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual boost::asio::awaitable<bool> send(int status, std::string_view content_type,
                                            const HeaderList& headers, std::string body) = 0;
  // Sends the status line and headers of a chunked response; `trailer_names` are announced
  // in a Trailer header and sent by finish_stream().
  virtual boost::asio::awaitable<bool> start_stream(int status, std::string_view content_type,
                                                    const HeaderList& headers,
                                                    std::string_view trailer_names) = 0;
  virtual boost::asio::awaitable<bool> write_chunk(std::string_view data) = 0;
  // Ends the body: `last_data` (if any) as a final chunk, the terminating chunk and the
  // trailers, in one write.
  virtual boost::asio::awaitable<bool> finish_stream(const HeaderList& trailers,
                                                     std::string_view last_data = {}) = 0;
  virtual bool started() const = 0;
};

using Handler = std::function<boost::asio::awaitable<void>(IncomingRequest&, ResponseWriter&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 = ephemeral; port() tells the bound one
  int threads = 1;
  uint64_t max_body_bytes = 4 << 20;
  int64_t idle_timeout_ms = 60000;   // keep-alive connection with no request
  int64_t write_timeout_ms = 30000;  // a client that does not read its response
  int64_t busy_poll_us = 0;          // adaptive busy polling window (net/busy_poll.h); 0 = off
  // Admission control: requests in flight on one I/O thread (handlers started and not yet
  // returned) past which a new request is handed over marked over_capacity(). 0 = no bound.
  int64_t max_requests_per_thread = 0;
  // Lingering close (as nginx's lingering_close): after answering a request whose body was not
  // read (413) or could not be parsed (400), the server stops sending (FIN) and reads and
  // discards what the client still uploads until it closes, `linger_max_bytes` were discarded
  // or `linger_timeout_ms` passed. Closing at once would make the kernel answer the client's
  // data with a reset, which can destroy the answer before the client reads it (Node's fetch
  // and the openai SDK then report "Connection error" instead of the 413).
  int64_t linger_timeout_ms = 5000;
  uint64_t linger_max_bytes = 64ull << 20;
  // Called (on an I/O thread) for every failed accept, with "emfile" (the process is out of
  // descriptors), "enfile" (the system is), "enobufs" (out of socket memory) or "other". The
  // server also logs the first failure of a burst (at most once a second per thread) and backs
  // off accepting, 10 ms doubling up to 1 s, until an accept succeeds. May be empty.
  std::function<void(std::string_view reason)> on_accept_error = nullptr;
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Handler handler);
  ~HttpServer();

  // Binds (throws std::runtime_error naming host:port on failure) and starts the threads.
  void start();
  uint16_t port() const;
  // Stops accepting; requests in flight continue; keep-alive connections close after their
  // current response.
  void stop_accepting();
  // Waits until no request is in flight or `timeout_ms` passed; true when idle.
  bool wait_idle(int64_t timeout_ms);
  // Stops every thread and joins them; connections still open are dropped.
  void stop();
  int64_t in_flight() const;
  bool draining() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace triage::net

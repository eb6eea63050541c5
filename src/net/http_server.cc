#include "net/http_server.h"

#include <algorithm>

#include "net/busy_poll.h"
#include "common/clock.h"
#include "net/conn_watch.h"
#include "net/http_client.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <thread>

namespace triage::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// Connections taken from the listen backlog per accept completion (accept_loop).
constexpr int kAcceptBatch = 64;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::string_view accept_error_reason(const boost::system::error_code& ec) {
  if (ec == asio::error::no_descriptors) return "emfile";
  if (ec.category() == boost::system::system_category()) {
    if (ec.value() == ENFILE) return "enfile";
    if (ec.value() == ENOBUFS || ec.value() == ENOMEM) return "enobufs";
  }
  return "other";
}

class BeastRequest final : public IncomingRequest {
 public:
  BeastRequest(http::request<http::string_body>& req, bool too_large, std::string malformed,
               ConnectionWatch::Entry& watch, bool loopback, bool over_capacity)
      : req_(req),
        too_large_(too_large),
        over_capacity_(over_capacity),
        malformed_(std::move(malformed)),
        watch_(watch),
        loopback_(loopback) {}
  std::string_view method() const override { return req_.method_string(); }
  std::string_view target() const override { return req_.target(); }
  std::string_view header(std::string_view name) const override {
    auto it = req_.find(beast::string_view(name.data(), name.size()));
    return it == req_.end() ? std::string_view{} : std::string_view(it->value());
  }
  std::string& body() override { return req_.body(); }
  bool body_too_large() const override { return too_large_; }
  std::string_view malformed() const override { return malformed_; }
  void on_client_gone(std::function<void()> gone) override { watch_.watch_close(std::move(gone)); }
  bool over_capacity() const override { return over_capacity_; }
  bool from_loopback() const override { return loopback_; }

 private:
  http::request<http::string_body>& req_;
  bool too_large_;
  bool over_capacity_;
  std::string malformed_;
  ConnectionWatch::Entry& watch_;
  bool loopback_;
};

bool is_loopback_peer(const tcp::socket& sock) {
  beast::error_code ec;
  const auto peer = sock.remote_endpoint(ec);
  if (ec) return false;
  const asio::ip::address a = peer.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return a.is_loopback();
}

void append_value(std::string& out, std::string_view v) {
  if (v.find('\r') == std::string_view::npos && v.find('\n') == std::string_view::npos) {
    out.append(v.data(), v.size());  // the usual case; find() is memchr
    return;
  }
  for (char c : v) out += (c == '\r' || c == '\n') ? ' ' : c;
}

class BeastWriter final : public ResponseWriter {
 public:
  BeastWriter(beast::tcp_stream& stream, ConnectionWatch::Entry& watch, unsigned version,
              bool keep_alive, int64_t timeout_ms)
      : stream_(stream),
        watch_(watch),
        version_(version),
        keep_alive_(keep_alive),
        timeout_(timeout_ms) {}

  // The response head is formatted here rather than by Beast's serializer: it is a handful of
  // fixed lines, and the serializer's buffer machinery cost more than the rest of the
  // gateway's request path (measured with callgrind, docs/performance.md). Header values
  // come from Triage itself; CR/LF are replaced so none can split a header.
  asio::awaitable<bool> send(int status, std::string_view content_type, const HeaderList& headers,
                             std::string body) override {
    started_ = true;
    std::string head;
    head.reserve(256);
    head += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head += std::to_string(status);
    head += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    head.append(reason.data(), reason.size());
    head += "\r\nServer: triage\r\nContent-Type: ";
    append_value(head, content_type);
    for (const auto& [k, v] : headers) {
      head += "\r\n";
      append_value(head, k);
      head += ": ";
      append_value(head, v);
    }
    head += "\r\nContent-Length: ";
    head += std::to_string(body.size());
    if (!keep_alive_) {
      head += "\r\nConnection: close";
    } else if (version_ == 10) {
      head += "\r\nConnection: keep-alive";
    }
    head += "\r\n\r\n";
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body)};
    watch_.arm(timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, buffers, kAsTuple);
    watch_.disarm();
    ok_ = !ec;
    co_return ok_;
  }

  // Chunked responses are framed here as well. The head is held back and goes out with the
  // first chunk, so the first token costs one write, not two.
  asio::awaitable<bool> start_stream(int status, std::string_view content_type,
                                     const HeaderList& headers,
                                     std::string_view trailer_names) override {
    started_ = true;
    head_.clear();
    head_ += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head_ += std::to_string(status);
    head_ += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    head_.append(reason.data(), reason.size());
    head_ += "\r\nServer: triage\r\nContent-Type: ";
    append_value(head_, content_type);
    head_ += "\r\nCache-Control: no-cache";
    if (!trailer_names.empty()) {
      head_ += "\r\nTrailer: ";
      append_value(head_, trailer_names);
    }
    for (const auto& [k, v] : headers) {
      head_ += "\r\n";
      append_value(head_, k);
      head_ += ": ";
      append_value(head_, v);
    }
    head_ += "\r\nTransfer-Encoding: chunked";
    if (!keep_alive_) head_ += "\r\nConnection: close";
    head_ += "\r\n\r\n";
    co_return true;
  }

  asio::awaitable<bool> write_chunk(std::string_view data) override {
    if (!ok_) co_return false;
    if (data.empty()) co_return true;  // an empty chunk would end the body
    append_chunk_size(data.size());
    const std::array<asio::const_buffer, 3> buffers{
        asio::buffer(head_), asio::const_buffer(data.data(), data.size()),
        asio::const_buffer("\r\n", 2)};
    co_return co_await write_buffers(buffers);
  }

  asio::awaitable<bool> finish_stream(const HeaderList& trailers,
                                      std::string_view last_data) override {
    if (!ok_) co_return false;
    if (!last_data.empty()) {
      append_chunk_size(last_data.size());
      head_ += last_data;
      head_ += "\r\n";
    }
    head_ += "0\r\n";
    for (const auto& [k, v] : trailers) {
      append_value(head_, k);
      head_ += ": ";
      append_value(head_, v);
      head_ += "\r\n";
    }
    head_ += "\r\n";
    const std::array<asio::const_buffer, 1> buffers{asio::buffer(head_)};
    co_return co_await write_buffers(buffers);
  }

  bool started() const override { return started_; }
  bool ok() const { return ok_; }

 private:
  // Appends a chunk's size line ("1a2\r\n") to head_.
  void append_chunk_size(size_t n) {
    char size[24];
    const int len = std::snprintf(size, sizeof size, "%zx\r\n", n);
    head_.append(size, static_cast<size_t>(len));
  }

  // Writes `buffers` (whose first one is head_) and empties head_.
  template <typename Buffers>
  asio::awaitable<bool> write_buffers(const Buffers& buffers) {
    watch_.arm(timeout_);
    auto [ec, n] = co_await asio::async_write(stream_, buffers, kAsTuple);
    watch_.disarm();
    head_.clear();
    ok_ = !ec;
    co_return ok_;
  }

  std::string head_;  // response head not yet sent, then chunk-size prefixes
  beast::tcp_stream& stream_;
  ConnectionWatch::Entry& watch_;  // write deadline (the session's)
  unsigned version_;
  bool keep_alive_;
  std::chrono::milliseconds timeout_;
  bool started_ = false;
  bool ok_ = true;
};

}  // namespace

struct HttpServer::Impl {
  struct Worker {
    explicit Worker(std::chrono::milliseconds tick) : watch(tick) {}
    // Declared before ioc: destroying ioc destroys the sessions, whose entries unlink from it.
    ConnectionWatch watch;
    asio::io_context ioc{1};
    std::optional<tcp::acceptor> acceptor;
    std::thread thread;
    int64_t active = 0;  // handlers running on this thread (admission control); its thread only
  };

  ServerOptions opts;
  Handler handler;
  std::vector<std::unique_ptr<Worker>> workers;
  uint16_t bound_port = 0;
  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> draining{false};
  bool running = false;

  void open_acceptor(Worker& w, const tcp::endpoint& ep) {
    w.acceptor.emplace(w.ioc);
    w.acceptor->open(ep.protocol());
    w.acceptor->set_option(asio::socket_base::reuse_address(true));
    w.acceptor->set_option(ReusePort(true));
    w.acceptor->bind(ep);
    w.acceptor->listen(asio::socket_base::max_listen_connections);
    // accept_loop's batch reads the backlog with synchronous accepts that must not block.
    w.acceptor->non_blocking(true);
  }

  asio::awaitable<void> accept_loop(Worker& w) {
    std::chrono::milliseconds backoff{0};
    SteadyTime last_log{};
    for (;;) {
      auto [ec, sock] = co_await w.acceptor->async_accept(kAsTuple);
      if (ec) {
        if (!w.acceptor->is_open() || draining.load()) co_return;
        // Out of descriptors or similar: the connection stays in the listen backlog, so an
        // immediate retry would spin. Count it, say so, and back off until an accept succeeds.
        const std::string_view reason = accept_error_reason(ec);
        if (opts.on_accept_error) opts.on_accept_error(reason);
        backoff = std::clamp(backoff * 2, std::chrono::milliseconds(10),
                             std::chrono::milliseconds(1000));
        const SteadyTime now = SteadyClock::now();
        if (now - last_log >= std::chrono::seconds(1)) {
          last_log = now;
          spdlog::error(
              "accept failed ({}: {}) with {} connections open on this I/O thread; new "
              "connections wait in the listen backlog; retrying in {} ms{}",
              reason, ec.message(), w.watch.size(), backoff.count(),
              reason == "emfile" ? " (raise the descriptor limit, ulimit -n, or lower "
                                   "server.idle_timeout_ms)"
                                 : "");
        }
        asio::steady_timer t(w.ioc, backoff);
        co_await t.async_wait(kAsTuple);
        continue;
      }
      backoff = std::chrono::milliseconds(0);
      start_session(w, std::move(sock));
      // Take what else waits in the backlog now (non-blocking accepts, up to a batch): one
      // accept per completion puts each new connection behind a whole round of the busy
      // connections' handlers, and at 512 connections that kept the last ones waiting over a
      // second for their first byte (docs/performance.md, "c=512"). An error here (EMFILE)
      // ends the batch; the next async_accept meets it again and backs off.
      for (int i = 0; i < kAcceptBatch; ++i) {
        beast::error_code more_ec;
        tcp::socket more = w.acceptor->accept(more_ec);
        if (more_ec) break;
        start_session(w, std::move(more));
      }
    }
  }

  // The I/O thread's periodic sweep: client connection deadlines every tick (ConnectionWatch),
  // and at most once a second the upstream connections pooled on this thread and idle past
  // their timeout (close_idle_connections; otherwise a burst's connections stay open until
  // their origin is called again).
  asio::awaitable<void> sweep_loop(Worker& w) {
    asio::steady_timer timer(w.ioc);
    SteadyTime next_pool_sweep = SteadyClock::now();
    for (;;) {
      timer.expires_after(w.watch.tick());
      auto [ec] = co_await timer.async_wait(kAsTuple);
      if (ec) co_return;
      const SteadyTime now = SteadyClock::now();
      w.watch.sweep(now);
      if (now >= next_pool_sweep) {
        close_idle_connections(w.ioc, now);
        next_pool_sweep = now + std::chrono::seconds(1);
      }
    }
  }

  void start_session(Worker& w, tcp::socket sock) {
    beast::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(w.ioc, session(w, beast::tcp_stream(std::move(sock))), asio::detached);
  }

  // A quarter of the shortest connection timeout, from 10 ms to 1 s (ConnectionWatch).
  std::chrono::milliseconds watch_tick() const {
    const int64_t shortest = std::min(opts.idle_timeout_ms, opts.write_timeout_ms);
    return std::chrono::milliseconds(std::clamp<int64_t>(shortest / 4, 10, 1000));
  }

  asio::awaitable<void> session(Worker& w, beast::tcp_stream stream) {
    // Deadlines: idle_timeout_ms for the next request (whole, headers and body), then
    // write_timeout_ms for each write of the response (BeastWriter).
    ConnectionWatch::Entry watch(w.watch, stream.socket());
    const bool loopback = is_loopback_peer(stream.socket());
    beast::flat_buffer buffer;
    // Beast reads at most the free capacity (at least 512 bytes): a typical chat request
    // (1-10 KB) then arrives in one read instead of a dozen.
    buffer.reserve(16 * 1024);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(opts.max_body_bytes);
      parser.header_limit(64 * 1024);
      watch.arm(std::chrono::milliseconds(opts.idle_timeout_ms));
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAsTuple);
      watch.disarm();
      bool too_large = ec == http::error::body_limit;
      std::string malformed;
      if (ec && !too_large) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == asio::error::connection_reset || ec == asio::error::eof ||
            ec == asio::error::operation_aborted || !parser.got_some()) {
          break;
        }
        malformed = ec.message();
      }
      auto& req = parser.get();
      // The client may still be sending a request that was not read to its end.
      const bool unread_request = too_large || !malformed.empty();
      const bool keep_alive = !unread_request && req.keep_alive() && !draining.load();
      // Admission: past the bound the handler still answers (fast), but is not counted.
      const bool admitted =
          opts.max_requests_per_thread <= 0 || w.active < opts.max_requests_per_thread;
      w.active += admitted ? 1 : 0;
      in_flight.fetch_add(1);
      bool client_ok = true;
      {
        BeastRequest in(req, too_large, std::move(malformed), watch, loopback, !admitted);
        BeastWriter out(stream, watch, req.version(), keep_alive, opts.write_timeout_ms);
        co_await handler(in, out);
        watch.unwatch_close();
        client_ok = out.ok();
      }
      in_flight.fetch_sub(1);
      w.active -= admitted ? 1 : 0;
      if (!client_ok) break;
      if (unread_request) {
        co_await linger(stream, watch);
        co_return;
      }
      if (!keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // The lingering close (ServerOptions::linger_timeout_ms): FIN first, so the client sees the
  // end of the answer, then discard its upload until it closes or a bound is reached.
  asio::awaitable<void> linger(beast::tcp_stream& stream, ConnectionWatch::Entry& watch) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    std::array<char, 16 * 1024> scratch;
    uint64_t discarded = 0;
    watch.arm(std::chrono::milliseconds(opts.linger_timeout_ms));
    while (discarded < opts.linger_max_bytes) {
      auto [ec, n] = co_await stream.socket().async_read_some(asio::buffer(scratch), kAsTuple);
      if (ec) break;  // closed by the client, reset, or the deadline cancelled the read
      discarded += n;
    }
    watch.disarm();
  }
};

HttpServer::HttpServer(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(options);
  impl_->handler = std::move(handler);
  if (impl_->opts.threads < 1) impl_->opts.threads = 1;
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  auto& im = *impl_;
  beast::error_code ec;
  auto addr = asio::ip::make_address(im.opts.host, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on '" + im.opts.host + "': not an IP address");
  }
  tcp::endpoint ep(addr, im.opts.port);
  try {
    for (int i = 0; i < im.opts.threads; ++i) {
      auto w = std::make_unique<Impl::Worker>(im.watch_tick());
      im.open_acceptor(*w, ep);
      if (i == 0) {
        im.bound_port = w->acceptor->local_endpoint().port();
        ep.port(im.bound_port);  // the other threads share the port picked by the first
      }
      im.workers.push_back(std::move(w));
    }
  } catch (const boost::system::system_error& e) {
    im.workers.clear();
    throw std::runtime_error("cannot listen on " + im.opts.host + ":" +
                             std::to_string(im.opts.port) + ": " + e.code().message());
  }
  for (auto& w : im.workers) {
    asio::co_spawn(w->ioc, im.accept_loop(*w), asio::detached);
    asio::co_spawn(w->ioc, im.sweep_loop(*w), asio::detached);
    w->thread = std::thread([&ioc = w->ioc, window = std::chrono::microseconds(im.opts.busy_poll_us)] {
      run_io(ioc, window);
    });
  }
  im.running = true;
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop_accepting() {
  impl_->draining.store(true);
  for (auto& w : impl_->workers) {
    asio::post(w->ioc, [&w] {
      beast::error_code ignored;
      if (w->acceptor) w->acceptor->close(ignored);
    });
  }
}

bool HttpServer::wait_idle(int64_t timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (impl_->in_flight.load() > 0) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void HttpServer::stop() {
  if (!impl_ || !impl_->running) return;
  impl_->running = false;
  for (auto& w : impl_->workers) w->ioc.stop();
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  impl_->workers.clear();
}

int64_t HttpServer::in_flight() const { return impl_->in_flight.load(); }
bool HttpServer::draining() const { return impl_->draining.load(); }

}  // namespace triage::net

// HttpClient against a scripted in-process server on 127.0.0.1:0 (one io_context, one thread).
#include "net/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <optional>

namespace triage::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Accepts connections forever; `serve(socket, connection_index)` scripts each connection.
class ScriptedServer {
 public:
  using Script = std::function<asio::awaitable<void>(tcp::socket&, int)>;
  ScriptedServer(asio::io_context& ctx, Script script)
      : acceptor_(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        script_(std::move(script)) {
    asio::co_spawn(ctx, accept_loop(), asio::detached);
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/v1"; }
  int connections() const { return connections_; }
  void stop() { acceptor_.close(); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      int index = connections_++;
      asio::co_spawn(
          acceptor_.get_executor(),
          [this, index, s = std::move(sock)]() mutable -> asio::awaitable<void> {
            co_await script_(s, index);
          },
          asio::detached);
    }
  }
  tcp::acceptor acceptor_;
  Script script_;
  int connections_ = 0;
};

// Reads one request; returns its target, or nullopt when the peer closed.
asio::awaitable<std::optional<http::request<http::string_body>>> read_req(tcp::socket& s,
                                                                          beast::flat_buffer& b) {
  http::request<http::string_body> req;
  auto [ec, n] = co_await http::async_read(s, b, req, kTuple);
  if (ec) co_return std::nullopt;
  co_return req;
}

asio::awaitable<void> write_raw(tcp::socket& s, std::string data) {
  co_await asio::async_write(s, asio::buffer(data), kTuple);
}

std::string ok_response(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + std::string(extra) + "\r\n" + std::string(body);
}

// Runs `test` on a fresh io_context to completion, rethrowing its exception if any.
void run(asio::io_context& ctx, std::function<asio::awaitable<void>()> test) {
  std::exception_ptr failure;
  bool finished = false;
  asio::co_spawn(ctx, test(), [&](std::exception_ptr e) {
    failure = e;
    finished = true;
    ctx.stop();
  });
  ctx.run_for(20s);
  ASSERT_TRUE(finished) << "test coroutine did not finish";
  if (failure) std::rethrow_exception(failure);
}

SteadyTime in(std::chrono::milliseconds d) { return SteadyClock::now() + d; }

HttpRequest post(std::string_view target, std::string_view body = "{}") {
  HttpRequest r;
  r.target = target;
  r.body = body;
  return r;
}

// Polls every millisecond (on the calling coroutine's executor) until `done()`, at most max_ms.
asio::awaitable<void> poll_until(std::function<bool()> done, int max_ms = 10000) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (int i = 0; i < max_ms && !done(); ++i) {
    t.expires_after(1ms);
    co_await t.async_wait(kTuple);
  }
}

// A server that answers each request only once the whole burst (every `burst` requests) has
// arrived, so each call of a burst needs its own connection. Must outlive its server.
struct HeldBursts {
  int burst;
  int arrived = 0;  // requests read so far
  int closed = 0;   // connections the client closed
  ScriptedServer::Script script() {
    return [this](tcp::socket& s, int) -> asio::awaitable<void> {
      beast::flat_buffer b;
      while (auto req = co_await read_req(s, b)) {
        const int burst_end = (arrived / burst + 1) * burst;
        ++arrived;
        co_await poll_until([this, burst_end] { return arrived >= burst_end; });
        co_await write_raw(s, ok_response("{}"));
      }
      ++closed;
    };
  }
};

// Sends `n` calls at once and waits for all of them; returns how many failed or were not 200.
asio::awaitable<int> send_burst(asio::io_context& ctx, const HttpClient& client, int n,
                                std::chrono::milliseconds timeout) {
  const std::string target = client.endpoint().target("/chat/completions");
  int done = 0, failures = 0;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
          auto r = co_await client.request(post(target), in(timeout));
          if (!r.ok() || r->status != 200) ++failures;
          ++done;
        },
        asio::detached);
  }
  co_await poll_until([&] { return done == n; }, 60000);
  co_return failures;
}

TEST(HttpClient, RequestAndKeepAliveReuse) {
  asio::io_context ctx;
  std::vector<std::string> seen;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    while (auto req = co_await read_req(s, b)) {
      seen.push_back(std::string(req->method_string()) + " " + std::string(req->target()) + " " +
                     std::string((*req)[http::field::host]) + " " + req->body() + " " +
                     std::string((*req)["X-Test"]));
      co_await write_raw(s, ok_response("{\"n\":" + std::to_string(seen.size()) + "}"));
    }
  });
  auto ep = parse_endpoint(server.url());
  ASSERT_TRUE(ep.ok());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    HttpHeader hdr[] = {{"X-Test", "yes"}};
    std::string target = client.endpoint().target("/chat/completions");
    for (int i = 1; i <= 3; ++i) {
      auto r = co_await client.request(
          [&] {
            auto r = post(target);
            r.headers = hdr;
            return r;
          }(),
          in(5s));
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
      if (!r.ok()) co_return;
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->content_type, "application/json");
      EXPECT_EQ(r->body, "{\"n\":" + std::to_string(i) + "}");
    }
  });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0],
            "POST /v1/chat/completions 127.0.0.1:" + std::to_string(server.port()) + " {} yes");
  EXPECT_EQ(server.connections(), 1);
  PoolStats st = pool_stats(ctx);
  EXPECT_EQ(st.connects, 1u);
  EXPECT_EQ(st.reuses, 2u);
  EXPECT_EQ(st.idle, 1u);
}

// A burst of concurrent calls leaves as many idle connections as it used (up to the default
// max_idle_per_origin, 1024), so the next burst reuses them all: with a pool of 64 the second
// burst opened 136 new connections, and at 512 clients that churn cost a quarter of the
// gateway's throughput (docs/performance.md, "c=512").
TEST(HttpClient, ABurstsConnectionsStayPooledForTheNextBurst) {
  constexpr int kBurst = 200;
  asio::io_context ctx;
  HeldBursts held{kBurst};
  ScriptedServer server(ctx, held.script());
  auto ep = parse_endpoint(server.url());
  ASSERT_TRUE(ep.ok());
  HttpClient client(*ep);
  int failures = 0;
  run(ctx, [&]() -> asio::awaitable<void> {
    for (int wave = 0; wave < 2; ++wave) {
      failures += co_await send_burst(ctx, client, kBurst, 10s);
      EXPECT_EQ(pool_stats(ctx).idle, static_cast<std::size_t>(kBurst)) << "after burst " << wave;
    }
  });
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(server.connections(), kBurst);
  const PoolStats st = pool_stats(ctx);
  EXPECT_EQ(st.connects, static_cast<std::size_t>(kBurst));
  EXPECT_EQ(st.reuses, static_cast<std::size_t>(kBurst));
}

// Pooled connections idle past idle_timeout close without another call to their origin
// (close_idle_connections, which the server runs on each I/O thread once a second): before,
// a burst left up to max_idle_per_origin sockets open until the origin was called again.
TEST(HttpClient, IdleConnectionsCloseWithoutAnotherCall) {
  constexpr int kBurst = 3;
  asio::io_context ctx;
  HeldBursts held{kBurst};
  ScriptedServer server(ctx, held.script());
  auto ep = parse_endpoint(server.url());
  ASSERT_TRUE(ep.ok());
  HttpClientOptions options;
  options.idle_timeout = 200ms;
  HttpClient client(*ep, options);
  run(ctx, [&]() -> asio::awaitable<void> {
    EXPECT_EQ(co_await send_burst(ctx, client, kBurst, 5s), 0);
    const SteadyTime released = SteadyClock::now();
    EXPECT_EQ(pool_stats(ctx).idle, static_cast<std::size_t>(kBurst));
    EXPECT_EQ(close_idle_connections(ctx, released), 0u);  // not idle long enough yet
    EXPECT_EQ(pool_stats(ctx).idle, static_cast<std::size_t>(kBurst));
    EXPECT_EQ(close_idle_connections(ctx, released + 250ms), static_cast<std::size_t>(kBurst));
    EXPECT_EQ(pool_stats(ctx).idle, 0u);
    // The server reads end of stream on every one of them.
    co_await poll_until([&] { return held.closed == kBurst; }, 1000);
    EXPECT_EQ(held.closed, kBurst);
  });
  EXPECT_EQ(server.connections(), kBurst);
  // A context whose pool was never used has nothing to close (and gets no pool for asking).
  asio::io_context other;
  EXPECT_EQ(close_idle_connections(other, SteadyClock::now()), 0u);
}

TEST(HttpClient, StreamDeliversChunksAsTheyArrive) {
  asio::io_context ctx;
  // The server sends the second chunk only after the client has seen the first: a client that
  // buffered the whole body would hit its deadline instead.
  asio::steady_timer first_seen(ctx, SteadyTime::max());
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    auto first_req = co_await read_req(s, b);
    if (!first_req) co_return;
    co_await write_raw(s,
                       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"
                       "6\r\nfirst\n\r\n");
    co_await first_seen.async_wait(kTuple);
    co_await write_raw(s, "7\r\nsecond\n\r\n0\r\n\r\n");
    for (;;) {
      auto more = co_await read_req(s, b);
      if (!more) break;
      co_await write_raw(s, ok_response("again"));
    }
  });
  auto ep = parse_endpoint(server.url());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest opened_req = post("/v1/x");
    auto opened = co_await client.open(opened_req, in(5s));
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().message);
    if (!opened.ok()) co_return;
    HttpStream& s = opened.value();
    EXPECT_EQ(s.status(), 200);
    EXPECT_EQ(s.content_type(), "text/event-stream");
    std::string all;
    for (;;) {
      auto chunk = co_await s.next();
      EXPECT_TRUE(chunk.ok()) << (chunk.ok() ? "" : chunk.error().message);
      if (!chunk.ok() || chunk->empty()) break;
      all.append(*chunk);
      if (all == "first\n") first_seen.cancel();
    }
    EXPECT_EQ(all, "first\nsecond\n");
    EXPECT_TRUE(s.done());
    // The finished stream's connection went back to the pool and is reused.
    const HttpRequest again_req = post("/v1/x", "");
    auto again = co_await client.request(again_req, in(5s));
    EXPECT_TRUE(again.ok() && again->body == "again");
  });
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(pool_stats(ctx).reuses, 1u);
}

TEST(HttpClient, AbandonedStreamClosesItsConnection) {
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    while (co_await read_req(s, b)) {
      co_await write_raw(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
      asio::steady_timer t(s.get_executor(), 10s);
      co_await t.async_wait(kTuple);  // never finishes the body
    }
  });
  auto ep = parse_endpoint(server.url());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    {
      const HttpRequest opened_req = post("/v1/x", "");
      auto opened = co_await client.open(opened_req, in(5s));
      EXPECT_TRUE(opened.ok());
      if (!opened.ok()) co_return;
      auto chunk = co_await opened->next();
      EXPECT_TRUE(chunk.ok() && *chunk == "12345");
    }
    EXPECT_EQ(pool_stats(ctx).idle, 0u);
    const HttpRequest again_req = post("/v1/x", "");
    auto again = co_await client.open(again_req, in(5s));
    EXPECT_TRUE(again.ok());
    server.stop();
  });
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(pool_stats(ctx).reuses, 0u);
}

TEST(HttpClient, StaleKeepAliveIsRetriedOnce) {
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    auto first_req = co_await read_req(s, b);
    if (!first_req) co_return;
    co_await write_raw(s, ok_response("ok"));
    // Wait for the next request, then close without answering (an idle-timeout race).
    co_await read_req(s, b);
    s.close();
  });
  auto ep = parse_endpoint(server.url());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 2; ++i) {
      const HttpRequest r_req = post("/v1/x");
      auto r = co_await client.request(r_req, in(5s));
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
      if (r.ok()) {
        EXPECT_EQ(r->body, "ok");
      }
    }
  });
  PoolStats st = pool_stats(ctx);
  EXPECT_EQ(st.stale_retries, 1u);
  EXPECT_EQ(st.connects, 2u);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClient, FreshConnectionFailureIsNotRetried) {
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    co_await read_req(s, b);
    s.close();
  });
  auto ep = parse_endpoint(server.url());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x");
    auto r = co_await client.request(r_req, in(5s));
    EXPECT_FALSE(r.ok());
    if (r.ok()) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
    // The address is for the log and the store (internal), never for the client (message).
    EXPECT_EQ(r.error().message.find(ep->origin), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().internal.find(ep->origin), std::string::npos) << r.error().internal;
  });
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClient, DeadlineGivesUpstreamTimeout) {
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    co_await read_req(s, b);
    asio::steady_timer t(s.get_executor(), 30s);
    co_await t.async_wait(kTuple);
  });
  auto ep = parse_endpoint(server.url());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x");
    auto r = co_await client.request(r_req, in(150ms));
    EXPECT_FALSE(r.ok());
    if (r.ok()) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamTimeout);
    EXPECT_NE(r.error().message.find("did not answer within"), std::string::npos);
    EXPECT_EQ(r.error().message.find(ep->origin), std::string::npos);
    EXPECT_NE(r.error().internal.find(ep->origin), std::string::npos);
    server.stop();
  });
}

TEST(HttpClient, PastDeadlineFailsWithoutConnecting) {
  asio::io_context ctx;
  auto ep = parse_endpoint("http://127.0.0.1:9/v1");
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x", "");
    auto r = co_await client.request(r_req, SteadyClock::now() - 1ms);
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kUpstreamTimeout);
    }
  });
  EXPECT_EQ(pool_stats(ctx).connects, 0u);
}

TEST(HttpClient, ConnectionRefused) {
  asio::io_context ctx;
  uint16_t port;
  {
    tcp::acceptor a(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  auto ep = parse_endpoint("http://127.0.0.1:" + std::to_string(port) + "/v1");
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x");
    auto r = co_await client.request(r_req, in(5s));
    EXPECT_FALSE(r.ok());
    if (r.ok()) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
    EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find(std::to_string(port)), std::string::npos);  // client-safe
    EXPECT_NE(r.error().internal.find(std::to_string(port)), std::string::npos);  // for the log
  });
}

TEST(HttpClient, GarbageResponse) {
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    co_await read_req(s, b);
    co_await write_raw(s, "this is not http at all\r\n\r\n");
    s.close();
  });
  auto ep = parse_endpoint(server.url());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x");
    auto r = co_await client.request(r_req, in(5s));
    EXPECT_FALSE(r.ok());
    if (r.ok()) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
    EXPECT_NE(r.error().message.find("invalid HTTP response"), std::string::npos)
        << r.error().message;
  });
}

TEST(HttpClient, BodyCutShortIsAnError) {
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    co_await read_req(s, b);
    co_await write_raw(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a bit");
    s.close();
  });
  auto ep = parse_endpoint(server.url());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x");
    auto r = co_await client.request(r_req, in(5s));
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
    }
  });
}

TEST(HttpClient, BodyLimit) {
  asio::io_context ctx;
  std::string big(1000, 'x');
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    while (co_await read_req(s, b)) {
      co_await write_raw(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + big +
                                "\r\n0\r\n\r\n");
    }
  });
  auto ep = parse_endpoint(server.url());
  HttpClient small(*ep, HttpClientOptions{.max_body_bytes = 100});
  HttpClient large(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x");
    auto r = co_await small.request(r_req, in(5s));
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
      EXPECT_NE(r.error().message.find("larger than 100 bytes"), std::string::npos)
          << r.error().message;
    }
    const HttpRequest ok_req = post("/v1/x");
    auto ok = co_await large.request(ok_req, in(5s));
    EXPECT_TRUE(ok.ok() && ok->body == big);
  });
}

TEST(HttpClient, NonSuccessStatusIsAResponse) {
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    co_await read_req(s, b);
    co_await write_raw(s,
                       "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n"
                       "Connection: close\r\n\r\nbusy");
    s.close();
  });
  auto ep = parse_endpoint(server.url());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x");
    auto r = co_await client.request(r_req, in(5s));
    EXPECT_TRUE(r.ok());
    if (!r.ok()) co_return;
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, "busy");
  });
  EXPECT_EQ(pool_stats(ctx).idle, 0u);  // Connection: close is honoured
}

TEST(HttpClient, ResolvesHostNames) {
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    beast::flat_buffer b;
    auto req = co_await read_req(s, b);
    if (!req) co_return;
    co_await write_raw(s, ok_response(std::string((*req)[http::field::host])));
  });
  auto ep = parse_endpoint("http://localhost:" + std::to_string(server.port()) + "/v1");
  ASSERT_TRUE(ep.ok());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest rq = post("/v1/x");
    auto r = co_await client.request(rq, in(5s));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    if (r.ok()) {
      EXPECT_EQ(r->body, "localhost:" + std::to_string(server.port()));
    }
    server.stop();
  });
}

TEST(HttpClient, TlsHandshakeFailureIsUpstreamError) {
  // An https endpoint whose server speaks plain HTTP: the handshake must fail cleanly.
  asio::io_context ctx;
  ScriptedServer server(ctx, [&](tcp::socket& s, int) -> asio::awaitable<void> {
    char buf[512];
    co_await s.async_read_some(asio::buffer(buf), kTuple);
    co_await write_raw(s, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    s.close();
  });
  auto ep = parse_endpoint("https://127.0.0.1:" + std::to_string(server.port()) + "/v1");
  ASSERT_TRUE(ep.ok());
  HttpClient client(*ep);
  run(ctx, [&]() -> asio::awaitable<void> {
    const HttpRequest r_req = post("/v1/x");
    auto r = co_await client.request(r_req, in(5s));
    EXPECT_FALSE(r.ok());
    if (r.ok()) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kUpstreamError);
    EXPECT_NE(r.error().message.find("TLS handshake with the upstream failed"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().internal.find("TLS handshake with upstream https://127.0.0.1:"),
              std::string::npos)
        << r.error().internal;
    server.stop();
  });
}

}  // namespace
}  // namespace triage::net

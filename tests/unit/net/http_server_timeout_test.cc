// Connection deadlines of the HTTP server (ConnectionWatch): an idle keep-alive connection and
// a client that sends half a request are closed after idle_timeout_ms, a client that keeps
// asking is served across many requests, and the watch itself cancels exactly the expired.
// The same periodic sweep closes the upstream connections an I/O thread pooled once idle.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <poll.h>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/cancellation.h"
#include "net/conn_watch.h"
#include "net/http_client.h"
#include "net/http_server.h"

namespace triage::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

class ServerTimeouts : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.idle_timeout_ms = 200;  // watch tick: 50 ms
    server_ = std::make_unique<HttpServer>(
        o, [](IncomingRequest&, ResponseWriter& out) -> asio::awaitable<void> {
          const HeaderList headers;  // a named local: see the GCC 12 note in the preamble
          co_await out.send(200, "text/plain", headers, "ok");
        });
    server_->start();
  }
  void TearDown() override { server_->stop(); }

  tcp::socket connect() {
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    return s;
  }
  // Blocks until the server closes `s` (EOF or reset) or 10 s pass; true when it closed.
  // Reads and discards whatever response bytes come first.
  bool closed_by_server(tcp::socket& s) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    char buf[4096];
    s.non_blocking(true);
    while (std::chrono::steady_clock::now() < until) {
      boost::system::error_code ec;
      s.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block) {
        s.wait(tcp::socket::wait_read, ec);
        continue;
      }
      if (ec) return true;  // eof / reset
    }
    return false;
  }

  asio::io_context ioc_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServerTimeouts, AnIdleConnectionIsClosed) {
  tcp::socket s = connect();
  EXPECT_TRUE(closed_by_server(s));
}

TEST_F(ServerTimeouts, HalfARequestIsNotWaitedForForever) {
  tcp::socket s = connect();
  asio::write(s, asio::buffer(std::string("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")));
  EXPECT_TRUE(closed_by_server(s));
}

TEST_F(ServerTimeouts, AnswersAndThenClosesWhenTheClientGoesQuiet) {
  tcp::socket s = connect();
  for (int i = 0; i < 20; ++i) {
    asio::write(s, asio::buffer(std::string("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")));
    std::string got;
    char buf[512];
    while (got.find("\r\n\r\nok") == std::string::npos) {
      const size_t n = s.read_some(asio::buffer(buf));
      got.append(buf, n);
    }
    EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  }
  EXPECT_TRUE(closed_by_server(s));
}

TEST(ConnectionWatch, CancelsOnlyExpiredEntriesAndUnlinksOnDestruction) {
  asio::io_context ioc;
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket a(ioc), b(ioc), c(ioc);
  for (tcp::socket* s : {&a, &b, &c}) s->connect(acc.local_endpoint());
  ConnectionWatch watch(10ms);
  ConnectionWatch::Entry ea(watch, a), eb(watch, b);
  {
    ConnectionWatch::Entry ec(watch, c);
    EXPECT_EQ(watch.size(), 3);
    ec.arm(0ms);
  }
  EXPECT_EQ(watch.size(), 2);  // c's entry unlinked itself
  ea.arm(0ms);
  eb.arm(1h);
  EXPECT_EQ(watch.sweep(SteadyClock::now()), 1);
  EXPECT_TRUE(ea.expired());
  EXPECT_FALSE(eb.expired());
  EXPECT_EQ(watch.sweep(SteadyClock::now()), 0);  // a was disarmed by its expiry
  eb.disarm();
  EXPECT_EQ(watch.sweep(SteadyClock::now() + 2h), 0);
}

TEST(ConnectionWatch, ReportsAClientThatClosedOnlyWhileWatchedAndAfterATick) {
  asio::io_context ioc;
  tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  // Server-side sockets of three clients: one closes, one stays, one sends more bytes (a
  // pipelined request) before closing nothing.
  tcp::socket closing(ioc), staying(ioc), sending(ioc);
  tcp::socket s_closing(ioc), s_staying(ioc), s_sending(ioc);
  closing.connect(acc.local_endpoint());
  acc.accept(s_closing);
  staying.connect(acc.local_endpoint());
  acc.accept(s_staying);
  sending.connect(acc.local_endpoint());
  acc.accept(s_sending);
  ConnectionWatch watch(10ms);
  ConnectionWatch::Entry e_closing(watch, s_closing), e_staying(watch, s_staying),
      e_sending(watch, s_sending);
  int gone_closing = 0, gone_staying = 0, gone_sending = 0;
  e_closing.watch_close([&] { ++gone_closing; });
  e_staying.watch_close([&] { ++gone_staying; });
  e_sending.watch_close([&] { ++gone_sending; });
  closing.close();
  asio::write(sending, asio::buffer(std::string("GET / HTTP/1.1\r\n")));
  std::this_thread::sleep_for(20ms);  // let the FIN and the bytes arrive

  watch.sweep(SteadyClock::now() - 15ms);  // a sweep before the check is due: not checked
  EXPECT_EQ(gone_closing, 0);
  watch.sweep(SteadyClock::now() + 20ms);
  EXPECT_EQ(gone_closing, 1);
  EXPECT_EQ(gone_staying, 0);
  EXPECT_EQ(gone_sending, 0);  // pipelined bytes: the client is still there
  watch.sweep(SteadyClock::now() + 40ms);
  EXPECT_EQ(gone_closing, 1);  // once

  // Unwatched (the request was answered): a close is not reported.
  e_staying.unwatch_close();
  staying.close();
  std::this_thread::sleep_for(20ms);
  watch.sweep(SteadyClock::now() + 1h);
  EXPECT_EQ(gone_staying, 0);
}

TEST(Cancellation, RunsRegisteredHooksOnceAndForgetsDroppedOnes) {
  Cancellation c;
  int a = 0, b = 0;
  Cancellation::Hook ha = c.on_cancel([&] { ++a; });
  {
    Cancellation::Hook hb = c.on_cancel([&] { ++b; });
    EXPECT_EQ(c.hooks(), 2u);
  }
  EXPECT_EQ(c.hooks(), 1u);  // hb unregistered itself
  EXPECT_FALSE(c.cancelled());
  c.cancel();
  c.cancel();
  EXPECT_TRUE(c.cancelled());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  Cancellation::Hook moved = std::move(ha);
  moved.reset();
  EXPECT_EQ(c.hooks(), 0u);
}

TEST(Cancellation, ManyHooksBeyondTheInlineOnesAllRun) {
  Cancellation c;
  int ran = 0;
  std::vector<Cancellation::Hook> hooks;
  for (int i = 0; i < 10; ++i) hooks.push_back(c.on_cancel([&] { ++ran; }));
  hooks[2].reset();  // an inline one
  hooks[7].reset();  // an overflow one
  EXPECT_EQ(c.hooks(), 8u);
  c.cancel();
  EXPECT_EQ(ran, 8);
  hooks.clear();
  EXPECT_EQ(c.hooks(), 0u);
}

// The server's I/O threads close the upstream connections they pooled once idle past the
// client's idle_timeout, with no further traffic (close_idle_connections, at most once a
// second): the upstream reads end of stream after the timeout, not before it.
TEST(ServerUpstreamPool, IdleUpstreamConnectionsCloseWithoutTraffic) {
  namespace http = boost::beast::http;
  asio::io_context up_ioc;
  tcp::acceptor acceptor(up_ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::atomic<int64_t> answered_ms{-1}, closed_ms{-1};
  const auto t0 = std::chrono::steady_clock::now();
  auto ms_since_t0 = [t0] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t0).count();
  };
  // A keep-alive upstream: answers one request, then waits (10 s at most) for the client to
  // close the connection.
  std::thread upstream([&] {
    tcp::socket s = acceptor.accept();
    boost::beast::flat_buffer b;
    http::request<http::string_body> req;
    http::read(s, b, req);
    const std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    asio::write(s, asio::buffer(answer));
    answered_ms = ms_since_t0();
    pollfd p{s.native_handle(), POLLIN, 0};
    char c;
    if (::poll(&p, 1, 10000) == 1 && ::recv(s.native_handle(), &c, 1, 0) == 0) {
      closed_ms = ms_since_t0();
    }
  });
  auto ep = parse_endpoint("http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
  ASSERT_TRUE(ep.ok());
  HttpClientOptions client_options;
  client_options.idle_timeout = 300ms;
  HttpClient client(*ep, client_options);
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 1;
  HttpServer server(o, [&](IncomingRequest&, ResponseWriter& out) -> asio::awaitable<void> {
    HttpRequest up;
    up.target = "/";
    const SteadyTime deadline = SteadyClock::now() + 5s;
    auto r = co_await client.request(up, deadline);
    const HeaderList headers;
    const int status = r.ok() ? r->status : 502;
    co_await out.send(status, "text/plain", headers, "done");
  });
  server.start();
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  asio::write(s, asio::buffer(std::string("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string got;
  char buf[512];
  while (got.find("\r\n\r\ndone") == std::string::npos) {
    got.append(buf, s.read_some(asio::buffer(buf)));
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  upstream.join();
  server.stop();
  ASSERT_GE(answered_ms.load(), 0);
  ASSERT_GE(closed_ms.load(), 0) << "the pooled upstream connection stayed open for 10 s";
  // Not before the idle timeout; within it plus one pool sweep (1 s) and some slack.
  EXPECT_GE(closed_ms - answered_ms, 250);
  EXPECT_LE(closed_ms - answered_ms, 3000);
}

}  // namespace
}  // namespace triage::net

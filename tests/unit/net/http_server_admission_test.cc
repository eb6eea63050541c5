// Admission control of the HTTP server (ServerOptions::max_requests_per_thread): past the bound a
// request reaches the handler marked over_capacity() and is not counted in flight; once the
// admitted ones finish, new requests are admitted again.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "net/http_server.h"

namespace triage::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

class Admission : public ::testing::Test {
 protected:
  void start(int64_t max_per_thread) {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 1;
    o.max_requests_per_thread = max_per_thread;
    server_ = std::make_unique<HttpServer>(
        o, [this](IncomingRequest& in, ResponseWriter& out) -> asio::awaitable<void> {
          const HeaderList headers;
          if (in.over_capacity()) {
            co_await out.send(503, "text/plain", headers, "busy");
            co_return;
          }
          ++admitted_;
          // Hold the request until the test releases it (polled: no cross-thread wake-up).
          asio::steady_timer t(co_await asio::this_coro::executor);
          while (!release_.load()) {
            t.expires_after(2ms);
            co_await t.async_wait(asio::use_awaitable);
          }
          co_await out.send(200, "text/plain", headers, "done");
        });
    server_->start();
  }
  void TearDown() override {
    release_ = true;
    if (server_) server_->stop();
  }

  tcp::socket send_request() {
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    asio::write(s, asio::buffer(std::string("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                            "Content-Length: 2\r\n\r\n{}")));
    return s;
  }
  // The status code of the response on `s` (blocking read of the status line).
  static int status_of(tcp::socket& s) {
    asio::streambuf buf;
    asio::read_until(s, buf, "\r\n");
    std::istream is(&buf);
    std::string version;
    int status = 0;
    is >> version >> status;
    return status;
  }
  bool wait_admitted(int n) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (admitted_.load() < n && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(1ms);
    }
    return admitted_.load() >= n;
  }

  asio::io_context ioc_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<int> admitted_{0};
  std::atomic<bool> release_{false};
};

TEST_F(Admission, PastTheBoundRequestsAreMarkedAndAnsweredAtOnce) {
  start(2);
  tcp::socket a = send_request();
  tcp::socket b = send_request();
  ASSERT_TRUE(wait_admitted(2));
  tcp::socket c = send_request();  // the thread has 2 in flight: over capacity
  {
    // Without admission control c would wait with the others: release everyone after 5 s so
    // that the test fails instead of hanging.
    std::mutex m;
    std::condition_variable_any cv;
    std::jthread watchdog([&](std::stop_token stop) {
      std::unique_lock lock(m);
      cv.wait_for(lock, stop, 5s, [] { return false; });
      release_ = true;
    });
    EXPECT_EQ(status_of(c), 503);
  }
  EXPECT_EQ(admitted_.load(), 2);
  release_ = true;
  EXPECT_EQ(status_of(a), 200);
  EXPECT_EQ(status_of(b), 200);
  // The admitted requests are done: room again.
  tcp::socket d = send_request();
  EXPECT_EQ(status_of(d), 200);
  EXPECT_EQ(admitted_.load(), 3);
}

TEST_F(Admission, ZeroMeansNoBound) {
  start(0);
  std::vector<tcp::socket> held;
  for (int i = 0; i < 20; ++i) held.push_back(send_request());
  ASSERT_TRUE(wait_admitted(20));
  release_ = true;
  for (auto& s : held) EXPECT_EQ(status_of(s), 200);
}

}  // namespace
}  // namespace triage::net

// The lingering close after a 413 (ServerOptions::linger_*): a client that is still uploading a
// body over max_body_bytes when the server answers can finish its upload and read the 413
// (without it, the server's close made the kernel reset the connection, and the client saw
// EPIPE / ECONNRESET instead of the answer); and the lingering is bounded in bytes and time.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "net/http_server.h"

namespace triage::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

class Linger : public ::testing::Test {
 protected:
  void start(ServerOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    o.max_body_bytes = 1024;
    server_ = std::make_unique<HttpServer>(
        o, [](IncomingRequest& in, ResponseWriter& out) -> asio::awaitable<void> {
          const HeaderList headers;  // a named local: see the GCC 12 note in the preamble
          const int status = in.body_too_large() ? 413 : 200;
          co_await out.send(status, "text/plain", headers, in.body_too_large() ? "too large" : "ok");
        });
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  tcp::socket connect() {
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    return s;
  }
  static std::string head(uint64_t content_length) {
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: " + std::to_string(content_length) + "\r\n\r\n";
  }
  // Everything the server sends until it closes (EOF), or the error that ended the read.
  static std::string read_to_end(tcp::socket& s, boost::system::error_code& ec) {
    std::string got;
    char buf[4096];
    for (;;) {
      const size_t n = s.read_some(asio::buffer(buf), ec);
      got.append(buf, n);
      if (ec) return got;
    }
  }

  asio::io_context ioc_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(Linger, AClientStillUploadingReadsThe413) {
  start({});
  tcp::socket s = connect();
  // 32 MiB: far more than the loopback socket buffers hold, so the client is still writing
  // long after the server has answered.
  const uint64_t total = 32ull << 20;
  asio::write(s, asio::buffer(head(total)));
  const std::string chunk(64 * 1024, 'x');
  boost::system::error_code ec;
  uint64_t sent = 0;
  while (sent < total && !ec) sent += asio::write(s, asio::buffer(chunk), ec);
  ASSERT_FALSE(ec) << "upload cut after " << sent << " bytes: " << ec.message();
  s.shutdown(tcp::socket::shutdown_send);
  const std::string got = read_to_end(s, ec);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  EXPECT_NE(got.find("too large"), std::string::npos) << got;
}

TEST_F(Linger, DiscardsAtMostLingerMaxBytes) {
  ServerOptions o;
  o.linger_max_bytes = 1 << 20;
  start(o);
  tcp::socket s = connect();
  asio::write(s, asio::buffer(head(256ull << 20)));
  const std::string chunk(64 * 1024, 'x');
  boost::system::error_code ec;
  uint64_t sent = 0;
  while (!ec && sent < (256ull << 20)) sent += asio::write(s, asio::buffer(chunk), ec);
  // The server stopped reading after 1 MiB and closed: the upload fails well before its end.
  EXPECT_TRUE(ec) << "the whole 256 MiB was accepted";
  EXPECT_GT(sent, 1u << 20);
  EXPECT_LT(sent, 64ull << 20);
}

TEST_F(Linger, AClientThatKeepsTricklingIsClosedAfterLingerTimeout) {
  ServerOptions o;
  o.linger_timeout_ms = 300;
  o.write_timeout_ms = 400;  // watch tick 100 ms; idle_timeout_ms stays 60 s
  start(o);
  tcp::socket s = connect();
  asio::write(s, asio::buffer(head(1 << 20) + "{\"model\":"));
  boost::system::error_code ec;
  const std::string got = read_to_end(s, ec);  // the 413, then the server's FIN
  EXPECT_EQ(got.rfind("HTTP/1.1 413", 0), 0u) << got;
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  // The server still reads (and discards) the upload; once the linger deadline passes it
  // closes, and the client's next writes fail. One byte every 20 ms (the trickle's pace).
  ec = {};
  const auto t0 = std::chrono::steady_clock::now();
  while (!ec && std::chrono::steady_clock::now() - t0 < 5s) {
    asio::write(s, asio::buffer(std::string(" ")), ec);
    std::this_thread::sleep_for(20ms);
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(ec) << "still lingering after 5 s";
  EXPECT_GT(took, 150ms) << "closed before the linger deadline";
}

}  // namespace
}  // namespace triage::net

// HTTP request heads and bodies through the real server code path: an in-process HttpServer on
// a loopback port, whose handler reads the request like the gateway does (413 when too large,
// 400 when malformed, the chat request reader on the body, a plain or a chunked answer). Each
// input is written on a fresh connection as is (so it may hold several pipelined requests),
// the write side is closed, and every byte of the answers is read until the server closes.
// Invariants: the server never crashes or trips a sanitizer, always closes the connection, and
// everything it sends is a sequence of HTTP/1.x responses.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/awaitable.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "api/chat_request.h"
#include "api/errors.h"
#include "fuzz_check.h"
#include "net/http_server.h"

namespace {

using triage::net::HeaderList;
using triage::net::IncomingRequest;
using triage::net::ResponseWriter;

boost::asio::awaitable<void> handle(IncomingRequest& in, ResponseWriter& out) {
  const HeaderList none;
  if (!in.malformed().empty()) {
    co_await out.send(400, "application/json", none, "{\"error\":\"malformed\"}");
    co_return;
  }
  if (in.body_too_large()) {
    co_await out.send(413, "application/json", none, "{\"error\":\"too large\"}");
    co_return;
  }
  HeaderList headers{{"x-target", std::string(in.target())},
                     {"x-ct", std::string(in.header("content-type"))}};
  auto req = triage::api::parse_chat_request(in.body());
  if (!req.ok()) {
    const auto e = triage::api::error_response(req.error());
    co_await out.send(e.status, "application/json", headers, e.body);
    co_return;
  }
  if (!req->stream) {
    co_await out.send(200, "application/json", headers, req->last_user_text());
    co_return;
  }
  if (!co_await out.start_stream(200, "text/event-stream", headers, "x-end")) co_return;
  for (const auto& m : req->messages) {
    const std::string chunk = "data: " + m.role + "\n\n";
    if (!co_await out.write_chunk(chunk)) co_return;
  }
  const HeaderList trailers{{"x-end", "1"}};  // named locals before co_await (GCC 12)
  const std::string_view done = "data: [DONE]\n\n";
  co_await out.finish_stream(trailers, done);
}

std::unique_ptr<triage::net::HttpServer> g_server;

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // the server closed early (a 413 or 400 on the first request): allowed
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  triage::net::ServerOptions opts;
  opts.host = "127.0.0.1";
  opts.port = 0;
  opts.threads = 1;
  opts.max_body_bytes = 2048;  // small, so that inputs reach the 413 path
  opts.idle_timeout_ms = 2000;
  opts.write_timeout_ms = 2000;
  g_server = std::make_unique<triage::net::HttpServer>(opts, handle);
  g_server->start();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  FUZZ_CHECK(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(g_server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{10, 0};  // far above the server's own deadlines: hitting it means a hang
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  write_all(fd, std::string_view(reinterpret_cast<const char*>(data), size));
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    FUZZ_CHECK(!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)));  // the server hung
    break;  // closed (or reset after an early answer)
  }
  ::close(fd);
  if (!answer.empty()) FUZZ_CHECK(answer.rfind("HTTP/1.", 0) == 0);
  return 0;
}

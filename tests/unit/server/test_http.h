#pragma once
// Fakes of the server's HTTP interfaces (net/http_server.h) for driving the gateway and the
// streaming sink in-process: a request built in code and a writer that records what was sent.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "net/http_server.h"

namespace triage::server::testing {

class FakeRequest final : public net::IncomingRequest {
 public:
  FakeRequest(std::string method, std::string target, std::string body = {},
              std::map<std::string, std::string> headers = {{"content-type", "application/json"}})
      : method_(std::move(method)),
        target_(std::move(target)),
        body_(std::move(body)),
        headers_(std::move(headers)) {}

  std::string_view method() const override { return method_; }
  std::string_view target() const override { return target_; }
  std::string_view header(std::string_view name) const override {
    auto it = headers_.find(std::string(name));
    return it == headers_.end() ? std::string_view() : std::string_view(it->second);
  }
  std::string& body() override { return body_; }
  bool body_too_large() const override { return too_large; }
  std::string_view malformed() const override { return malformed_why; }
  bool from_loopback() const override { return loopback; }

  bool too_large = false;
  std::string malformed_why;
  bool loopback = false;

 private:
  std::string method_, target_, body_;
  std::map<std::string, std::string> headers_;  // lower-case names
};

// Records every call; answers `true` (client still there) until `client_gone` is set.
class RecordingWriter final : public net::ResponseWriter {
 public:
  boost::asio::awaitable<bool> send(int s, std::string_view ct, const net::HeaderList& h,
                                    std::string b) override {
    ++sends;
    status = s;
    content_type = ct;
    headers = h;
    body = std::move(b);
    started_ = true;
    co_return !client_gone;
  }
  boost::asio::awaitable<bool> start_stream(int s, std::string_view ct, const net::HeaderList& h,
                                            std::string_view trailers) override {
    ++stream_starts;
    status = s;
    content_type = ct;
    headers = h;
    trailer_names = trailers;
    started_ = true;
    co_return !client_gone;
  }
  boost::asio::awaitable<bool> write_chunk(std::string_view data) override {
    chunks.emplace_back(data);
    co_return !client_gone;
  }
  boost::asio::awaitable<bool> finish_stream(const net::HeaderList& t,
                                             std::string_view last) override {
    ++stream_ends;
    trailers = t;
    last_data = last;
    co_return !client_gone;
  }
  bool started() const override { return started_; }

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
  // Everything streamed, in order: the chunks, then the last data.
  std::string streamed() const {
    std::string all;
    for (const auto& c : chunks) all += c;
    return all + last_data;
  }

  bool client_gone = false;
  int sends = 0, stream_starts = 0, stream_ends = 0;
  int status = 0;
  std::string content_type, body, trailer_names, last_data;
  net::HeaderList headers, trailers;
  std::vector<std::string> chunks;

 private:
  bool started_ = false;
};

// Runs `make()`'s coroutine on a fresh io_context until it (and everything it spawned) is done;
// rethrows what it threw.
template <typename MakeAwaitable>
void run_to_end(MakeAwaitable make) {
  boost::asio::io_context io;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, make(), [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
}

// The JSON `data:` payloads of an SSE text, in order ("[DONE]" kept as a string).
inline std::vector<boost::json::value> sse_data(const std::string& text) {
  std::vector<boost::json::value> out;
  size_t pos = 0;
  while ((pos = text.find("data: ", pos)) != std::string::npos) {
    const size_t end = text.find("\n\n", pos);
    const std::string data = text.substr(pos + 6, end - pos - 6);
    if (data == "[DONE]") {
      out.emplace_back("[DONE]");
    } else {
      out.push_back(boost::json::parse(data));
    }
    pos = end == std::string::npos ? text.size() : end + 2;
  }
  return out;
}

}  // namespace triage::server::testing

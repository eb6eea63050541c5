#pragma once
// What both route test harnesses (route_harness.h, composite_harness.h) share: the one-message
// request, a sink that records what a client would receive, and running one request through a
// route to completion on a private io_context.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/chat.h"
#include "core/trace.h"
#include "routes/route.h"

namespace triage::routes::testing {

class RecordingSink final : public core::StreamSink {
 public:
  std::string text;
  int writes = 0;
  std::string first_role;
  boost::asio::awaitable<bool> write(const core::Delta& d) override {
    if (writes == 0) first_role = std::string(d.role);
    ++writes;
    text += d.content;
    co_return true;
  }
};

inline core::ChatRequest user_request(const std::string& text) {
  core::ChatRequest r;
  r.messages.push_back({"user", text, {}});
  return r;
}

// Runs `req` through `route` (deadline 10 s) until it finishes; rethrows what the run threw.
inline Result<core::Completion> run_once(Route& route, const core::ChatRequest& req,
                                         core::Trace& trace, core::StreamSink* sink = nullptr) {
  boost::asio::io_context ioc;
  ExecContext ctx{trace, SteadyClock::now(), SteadyClock::now() + std::chrono::seconds(10)};
  std::optional<Result<core::Completion>> out;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> { out.emplace(co_await route.run(req, ctx, sink)); },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
  if (!out) throw std::runtime_error("the route did not finish");
  return std::move(*out);
}

}  // namespace triage::routes::testing

#pragma once
// Streams a route's answer to the client as SSE events in the client's dialect (the renderer:
// api/dialect.h; chat.completion.chunk events for /v1/chat/completions). The HTTP
// headers go out with the first delta (so an error before any output can still be a proper
// HTTP error status); nothing is buffered beyond the current chunk.
#include <optional>
#include <string>

#include <memory>

#include "api/chat_response.h"
#include "api/dialect.h"
#include "common/clock.h"
#include "common/result.h"
#include "core/chat.h"
#include "core/trace.h"
#include "net/http_server.h"

namespace triage::server {

// `trace` is the request's, still being filled by the route; `start` is the request's arrival,
// from which finish() measures the total. Lives in the request's coroutine, like the trace.
class SseSink final : public core::StreamSink {
 public:
  SseSink(net::ResponseWriter& out, core::Trace& trace, SteadyTime start, int64_t created_s,
          std::unique_ptr<api::StreamRenderer> renderer)
      : out_(out),
        trace_(trace),
        start_(start),
        created_s_(created_s),
        renderer_(std::move(renderer)) {}

  boost::asio::awaitable<bool> write(const core::Delta& delta) override;
  boost::asio::awaitable<bool> flush() override;
  // Ends a successful stream: the renderer's closing events, then the cost trailer.
  // Completes the trace's latency split first (core::complete_latency_split, total = now -
  // start), so the `triage` object reports what the store will (the gateway completes it once
  // more, after the last write, for the store).
  boost::asio::awaitable<bool> finish(const core::Completion& c);
  // Ends a stream that failed after it started: an error event, then the end of the body.
  boost::asio::awaitable<bool> fail(const triage::Error& e);
  bool started() const { return started_; }
  // Completion tokens handed to the client so far, estimated from the text (core/tokens.h):
  // what a stream cut short is charged for.
  int64_t sent_tokens() const { return sent_tokens_; }

 private:
  boost::asio::awaitable<bool> start();  // creates the serializer, sends the headers

  net::ResponseWriter& out_;
  core::Trace& trace_;
  SteadyTime start_;
  int64_t created_s_;
  std::unique_ptr<api::StreamRenderer> renderer_;
  bool started_ = false;  // headers sent and renderer begun (at the first write: model known)
  std::string pending_;  // events batched by Delta::more, not yet written
  int64_t sent_tokens_ = 0;
};

// Response headers every answer carries: request id, model, route, tier.
net::HeaderList triage_headers(const core::Trace& trace);
std::string format_usd(double usd);

}  // namespace triage::server

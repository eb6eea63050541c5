#pragma once
// A client dialect: how one wire API (OpenAI chat.completions, Anthropic Messages, ...) is read
// into core::ChatRequest and how answers, stream events and errors are written back. The
// gateway runs one pipeline (keys, limits, routes, traces, store) for every dialect; only these
// functions differ. The parsed request's `body` is always OpenAI chat-shaped, so providers never
// know which dialect a request came in. Thread-safe: dialects are stateless singletons; a
// StreamRenderer belongs to one stream.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api/chat_response.h"
#include "api/errors.h"
#include "common/result.h"
#include "core/chat.h"
#include "core/trace.h"

namespace triage::api {

// Renders one stream's events. Each method appends complete SSE events to `out`; the caller
// batches and writes them. Called in order: begin, delta..., then end or error (once).
class StreamRenderer {
 public:
  virtual ~StreamRenderer() = default;
  // The opening events, once the answering model is known. `request_id` is "req_...".
  virtual void begin(std::string_view request_id, int64_t created_s, std::string_view model,
                     std::string& out) = 0;
  // One increment (content and/or OpenAI-shaped tool_calls; never empty).
  virtual void delta(const core::Delta& d, std::string& out) = 0;
  // The closing events of a successful stream; `c` is the whole answer (usage, finish reason).
  virtual void end(const core::Completion& c, const TriageInfo& triage, std::string& out) = 0;
  // The event that reports a failure after the stream started.
  virtual void error(const Error& e, std::string& out) = 0;
};

struct Dialect {
  core::ClientApi api;  // recorded on the trace
  // Body -> request (OpenAI-shaped `body`); kInvalidRequest with a message saying what to fix.
  Result<core::ChatRequest> (*parse)(std::string_view body);
  // Status and body of an error answer, in the dialect's shape.
  HttpError (*error)(const Error& e);
  // A whole non-streaming answer to `req`.
  std::string (*render)(const core::ChatRequest& req, const ResponseInfo& info,
                        const core::Completion& c);
  // The renderer of one stream of `req`.
  std::unique_ptr<StreamRenderer> (*stream)(const core::ChatRequest& req);
};

const Dialect& chat_dialect();      // POST /v1/chat/completions
// chat.completion.chunk events; the usage chunk when `include_usage` (stream_options).
std::unique_ptr<StreamRenderer> chat_stream_renderer(bool include_usage);
const Dialect& messages_dialect();   // POST /v1/messages (api/messages.h)
const Dialect& responses_dialect();  // POST /v1/responses (api/responses.h)

}  // namespace triage::api

#pragma once
// Core request/response types shared by every module. Wire formats (OpenAI, Anthropic) are
// translated to and from these in api/ and providers/; nothing here knows about HTTP.
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cancellation.h"

namespace triage::core {

struct Message {
  std::string role;        // system | developer | user | assistant | tool
  std::string text;        // text content; text parts of an array content joined with "\n"
  boost::json::value raw;  // the message exactly as the client sent it (content parts, tool_calls)
};

// Who is asking and how; filled by the server from headers, never contains a secret.
struct RequestMeta {
  std::string request_id;  // "req_" + 24 hex digits, also the response id suffix
  std::string api_key_id;  // "key_" + first 12 hex of SHA-256(key); empty without a key
  std::string cohort;      // x-triage-cohort header, else empty
  std::string category;    // x-triage-category header or metadata.category, else empty
  std::string user;        // the `user` field
  // Cancelled when the client goes away (common/cancellation.h); null when nothing watches.
  std::shared_ptr<Cancellation> cancellation;
};

struct ChatRequest {
  std::string model;  // what the client asked for: a catalog model or a route name
  std::vector<Message> messages;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::optional<int64_t> max_tokens;  // max_completion_tokens or max_tokens
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::vector<std::string> stop;
  // The whole body as parsed. OpenAI-compatible providers forward it with `model` (and
  // stream_options) rewritten, so fields Triage does not model (tools, response_format,
  // seed, logprobs...) reach the upstream unchanged.
  boost::json::object body;
  // What the client's own dialect repeats back in its answer and never sends upstream (the
  // Responses API echoes instructions, metadata, tools...); empty for the other dialects.
  boost::json::object echo;
  RequestMeta meta;

  // Text of the last message with role "user" (empty if none): what replay and local models
  // match on, and what rules and classifiers read.
  const std::string& last_user_text() const;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // subset of prompt_tokens billed at the cached price
  bool estimated = false;            // true when counted by Triage, not reported by the upstream
};

struct Completion {
  std::string content;
  std::string finish_reason = "stop";  // stop | length | tool_calls | content_filter
  std::string stop_sequence;  // the client's stop sequence that ended it, when the upstream says
  Usage usage;
  boost::json::value tool_calls;  // null unless the model called tools (OpenAI shape)
  std::string model;              // catalog model that produced this answer
  std::string upstream_model;     // the model name the upstream reported, if any
  // Classifier outputs (local provider): predicted label and its probability.
  std::string label;
  double confidence = 0.0;
  bool synthesized = false;  // a placeholder made up by the replay provider (never graded)
  // The recorded grade (0..1) of this answer, when the provider knows one: the replay provider's
  // score_column cell for the prompt (never set on a synthesized answer). Recorded in the
  // model-call span; never sent to clients.
  std::optional<double> grade;
  // Natural-log probability of each generated token, when the provider returned logprobs
  // (OpenAI choices[0].logprobs.content[].logprob); empty otherwise.
  std::vector<double> token_logprobs;
};

// One streamed increment. Views are valid only during the write() call.
struct Delta {
  std::string_view role;           // set on the first delta only
  std::string_view content;
  const boost::json::value* tool_calls = nullptr;  // OpenAI delta.tool_calls, verbatim
  // A hint from the provider: more deltas are already in hand (they came in the same upstream
  // read), so a sink may batch this one with them into one client write. A provider that sets
  // it must call StreamSink::flush() when the batch ends, unless the stream ends with it: the
  // sink's owner ends every stream it started (gateway: SseSink::finish/fail), and that writes
  // whatever is still batched together with the end of the stream.
  bool more = false;
};

// Where a streaming provider writes increments as they arrive. write() returns false when the
// client has gone away; the provider must then stop and release its upstream connection.
// Called from the I/O thread running the request, never concurrently.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual boost::asio::awaitable<bool> write(const Delta& delta) = 0;
  // Sends whatever write() batched (see Delta::more). A sink that wraps another must forward it.
  virtual boost::asio::awaitable<bool> flush() { co_return true; }
};

}  // namespace triage::core

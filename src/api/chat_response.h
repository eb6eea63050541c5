#pragma once
// core::Completion / core::Delta -> OpenAI chat.completion objects and chat.completion.chunk
// SSE events, plus the top-level "triage" extension object. JSON is assembled by hand with
// correct escaping (see json_write.h): it is the hot path and measured faster than building
// a boost::json::object and serializing it: ~5x for a typical completion, ~30x per
// stream chunk (docs/api.md). Thread-safe, no shared state.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/chat.h"
#include "core/trace.h"

namespace triage::api {

// The "triage" extension object added at the top level of completions and of the last stream
// chunk. Times in milliseconds (fractional, microsecond precision); money in USD.
struct TriageInfo {
  std::string request_id;
  std::string route;  // route that served the request; empty (null) for a direct model call
  std::string model;  // catalog model whose answer is returned
  std::string tier;
  double cost_usd = 0.0;
  bool tokens_estimated = false;
  double routing_ms = 0.0;
  double queue_ms = 0.0;
  double upstream_ttfb_ms = 0.0;
  double upstream_ms = 0.0;
  double overhead_ms = 0.0;
  double total_ms = 0.0;
  bool synthesized = false;
  std::string label;  // classifier label; omitted when empty
  double confidence = 0.0;
};

// What a response says about itself besides the answer.
struct ResponseInfo {
  std::string id;       // "chatcmpl-" + request id suffix, see response_id()
  int64_t created = 0;  // unix seconds
  std::string model;    // model name shown to the client
  TriageInfo triage;
};

// Appends the TriageInfo as a JSON object (what every dialect's answer carries as "triage").
void append_triage_object(std::string& out, const TriageInfo& t);

// "req_0123abcd..." -> "chatcmpl-0123abcd..."; an id without the "req_" prefix is used whole.
std::string response_id(std::string_view request_id);

// Fills the extension from a (possibly not yet finished) trace: ids, route, model, tier, cost,
// latency split. `total_us`/`overhead_us` are whatever the trace holds at the time of the call.
TriageInfo triage_info(const core::Trace& trace);

// A ResponseInfo from a trace: id from trace.request_id, model shown = trace.model (the catalog
// model that answered), falling back to trace.requested_model when no model answered.
ResponseInfo response_info(const core::Trace& trace, int64_t created_s);

// A whole non-streaming `chat.completion` object (application/json). `message.content` is null
// when the model called tools and produced no text.
std::string serialize_completion(const ResponseInfo& info, const core::Completion& c);

// The terminating SSE event of every stream.
inline constexpr std::string_view kStreamDone = "data: [DONE]\n\n";

// Serializes the `chat.completion.chunk` events of one stream. Built once per stream (the
// common prefix -- id, object, created, model, system_fingerprint -- is rendered once); every
// method returns exactly one complete SSE event "data: {...}\n\n". The sequence OpenAI sends,
// and that the server should send, is:
//   role_chunk()                    delta {"role":"assistant","content":"","refusal":null}
//   delta_chunk(d)...               delta {"content":"..."} and/or {"tool_calls":[...]}
//   finish_chunk(reason)            delta {}, finish_reason set
//   usage_chunk(usage, &triage)     only when include_usage: "choices":[] and the usage object
//   kStreamDone
// With include_usage every chunk but the last carries "usage":null, as OpenAI does.
// Not thread-safe for mutation, but all methods are const.
class ChunkSerializer {
 public:
  ChunkSerializer(std::string_view id, int64_t created, std::string_view model, bool include_usage);
  explicit ChunkSerializer(const ResponseInfo& info, bool include_usage)
      : ChunkSerializer(info.id, info.created, info.model, include_usage) {}

  std::string role_chunk() const;
  // Content and/or tool_calls of `d` (role too if d.role is set). Content is written when it is
  // non-empty or when there are no tool_calls.
  std::string delta_chunk(const core::Delta& d) const;
  std::string content_chunk(std::string_view content) const;
  // Empty delta with finish_reason. When `triage` is given it is added as a top-level "triage"
  // field: use that when the client did not ask for include_usage, so the extension (cost,
  // latency) still reaches it.
  std::string finish_chunk(std::string_view finish_reason,
                           const TriageInfo* triage = nullptr) const;
  // The final usage chunk ("choices":[]), with the "triage" extension when given.
  std::string usage_chunk(const core::Usage& usage, const TriageInfo* triage = nullptr) const;

  bool include_usage() const { return include_usage_; }

 private:
  // `data: {"id":...,"system_fingerprint":null,"choices":[`
  std::string prefix_;
  bool include_usage_;
};

}  // namespace triage::api

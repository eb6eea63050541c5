#pragma once
// The `anthropic` provider: the Messages API, translated to and from Triage's OpenAI-shaped
// core types. System/developer messages become the top-level "system"; user, assistant and
// tool messages become turns (consecutive same-role messages merged): text, image parts as
// image blocks (base64 data URLs or URLs), assistant tool_calls as tool_use blocks, tool
// messages as tool_result blocks; function `tools` and `tool_choice` (with
// `parallel_tool_calls: false`) are translated too. tool_use blocks in answers, whole or
// streamed (input_json_delta), come back as OpenAI-shaped tool_calls, and a matched stop
// sequence as Completion::stop_sequence.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "core/chat.h"
#include "providers/provider.h"
#include "providers/upstream_errors.h"

namespace triage::providers {

// The model's optional `anthropic:` block.
struct AnthropicOptions {
  std::string version = "2023-06-01";  // anthropic-version header
  int64_t default_max_tokens = 1024;   // Anthropic requires max_tokens; used when absent
};

// Reads the model's `anthropic:` block. Throws config::ConfigError at the field.
AnthropicOptions parse_anthropic_options(const config::Config& cfg, const config::Model& model);

// Same contract as make_openai_client; the key is sent as x-api-key.
std::unique_ptr<ModelClient> make_anthropic_client(const config::Config& cfg,
                                                   const config::Model& model,
                                                   const EnvLookup& env);

// Registered as "anthropic": needs `endpoint`, reads `anthropic:`.
ProviderType anthropic_provider();

namespace anthropic {

// The Messages API request body for `req` (pure; anthropic_request.cc). kInvalidRequest
// naming the message or tool for what the API cannot take (audio or file parts, non-function
// tools, tool-call arguments that are not a JSON object).
Result<std::string> build_request_body(const core::ChatRequest& req, const config::Model& model,
                               const AnthropicOptions& options, bool stream);

// stop_reason -> OpenAI finish_reason (end_turn/stop_sequence -> stop, max_tokens -> length,
// tool_use -> tool_calls, refusal -> content_filter; anything else -> stop).
std::string_view finish_reason(std::string_view stop_reason);

// Parses a non-streaming Messages API answer. `reported_usage` is false when it had no usage.
Result<core::Completion> parse_response(std::string_view body, std::string_view model,
                                        bool& reported_usage);

// Turns Messages API stream events into deltas: message_start (usage), content_block_delta
// text_delta (content), content_block_start tool_use and input_json_delta (OpenAI-shaped
// delta.tool_calls, indexed by tool call), message_delta (stop reason and sequence, output
// tokens), message_stop (done), ping (ignored), error (kUpstreamError). Unknown events are
// ignored.
class EventAssembler final : public JsonStreamAssembler {
 public:
  explicit EventAssembler(std::string_view model);
  Result<Step> on_event(std::string_view event, std::string_view data) override;

 private:
  // Appends `function`'s arguments to tool call `call` and makes it the step's delta.
  void tool_call_delta(std::size_t call, boost::json::object function, Step& step);

  bool sent_role_ = false;
  std::map<int64_t, std::size_t> tool_calls_;  // content block index -> tool call index
  boost::json::value tool_delta_;              // the current step's delta.tool_calls
};

}  // namespace anthropic
}  // namespace triage::providers

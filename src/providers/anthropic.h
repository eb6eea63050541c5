#pragma once
// The `anthropic` provider: the Messages API, translated to and from Triage's OpenAI-shaped
// core types. Only text is translated: system/developer messages become the top-level
// "system"; user, assistant and tool messages become text turns (consecutive same-role turns
// merged). tool_use blocks in answers come back as OpenAI-shaped tool_calls.
#include <boost/json/value.hpp>
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

// The Messages API request body for `req` (pure).
std::string build_request_body(const core::ChatRequest& req, const config::Model& model,
                               const AnthropicOptions& options, bool stream);

// stop_reason -> OpenAI finish_reason (end_turn/stop_sequence -> stop, max_tokens -> length,
// tool_use -> tool_calls, refusal -> content_filter; anything else -> stop).
std::string_view finish_reason(std::string_view stop_reason);

// Parses a non-streaming Messages API answer. `reported_usage` is false when it had no usage.
Result<core::Completion> parse_response(std::string_view body, std::string_view model,
                                        bool& reported_usage);

// Turns Messages API stream events into deltas: message_start (usage), content_block_delta
// text_delta (content), message_delta (stop reason, output tokens), message_stop (done),
// ping (ignored), error (kUpstreamError). Unknown events are ignored.
class EventAssembler final : public JsonStreamAssembler {
 public:
  explicit EventAssembler(std::string_view model);
  Result<Step> on_event(std::string_view event, std::string_view data) override;

 private:
  bool sent_role_ = false;
};

}  // namespace anthropic
}  // namespace triage::providers

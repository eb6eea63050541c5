#pragma once
// The `openai` provider: any OpenAI-compatible /chat/completions server (OpenAI, vLLM,
// llama.cpp server, Ollama, Together...). The client's body is forwarded with `model`
// rewritten, so fields Triage does not model reach the upstream unchanged.
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

// The model's optional `openai:` block.
struct OpenAIOptions {
  std::string organization;  // optional OpenAI-Organization header
};

// Reads the model's `openai:` block. Throws config::ConfigError at the field.
OpenAIOptions parse_openai_options(const config::Config& cfg, const config::Model& model);

// Reads the key from env(model.api_key_env) now. An unset variable is not fatal: a warning
// names the variable and every call fails with kUnavailable until restarted with it set.
// Throws config::ConfigError for an unusable endpoint URL.
std::unique_ptr<ModelClient> make_openai_client(const config::Config& cfg,
                                                const config::Model& model, const EnvLookup& env);

// Registered as "openai": needs `endpoint`, reads `openai:`.
ProviderType openai_provider();

namespace openai {

// The upstream request body: req.body with "model" = upstream_model; streaming adds
// "stream":true and "stream_options":{"include_usage":true}, non-streaming drops both. When
// req.body has no "messages" (a request built by a route), messages and sampling fields come
// from the typed fields of `req`.
std::string build_request_body(const core::ChatRequest& req, std::string_view upstream_model,
                               bool stream);

// Parses a non-streaming chat.completion. `model` is the catalog name recorded in the result.
// Usage is left zero (and `reported_usage` false) when the upstream sent none.
Result<core::Completion> parse_response(std::string_view body, std::string_view model,
                                        bool& reported_usage);
// The same with the DOM only (no fast path): the reference parse_response_fast is tested against.
Result<core::Completion> parse_response_dom(std::string_view body, std::string_view model,
                                        bool& reported_usage);

// Reads an /embeddings answer: the list object (kept whole) and usage.prompt_tokens.
// kUpstreamError when it is not a JSON object with a `data` array.
Result<EmbeddingAnswer> parse_embeddings(std::string_view body);

// Turns chat.completion.chunk events into deltas and assembles the completion (tool call
// fragments are merged by index into the non-streaming shape). Stops at "[DONE]".
class ChunkAssembler final : public JsonStreamAssembler {
 public:
  explicit ChunkAssembler(std::string_view model);
  Result<Step> on_event(std::string_view event, std::string_view data) override;

 private:
  void merge_tool_calls(const boost::json::array& calls);

  bool saw_finish_ = false;
};

}  // namespace openai
}  // namespace triage::providers

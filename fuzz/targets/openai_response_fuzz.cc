// Differential: the fast (SAX) reader of upstream chat completions against the DOM reader.
// For every body either the fast reader declines, or both read the same completion. The
// combined parse_response must never throw and must agree with the DOM reader on success.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "providers/openai.h"
#include "providers/openai_fast_parse.h"

namespace openai = triage::providers::openai;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  bool fast_usage = false, dom_usage = false, any_usage = false;
  const auto fast = openai::parse_response_fast(body, "catalog", fast_usage);
  const auto dom = openai::parse_response_dom(body, "catalog", dom_usage);
  const auto any = openai::parse_response(body, "catalog", any_usage);
  FUZZ_CHECK(any.ok() == dom.ok());
  if (dom.ok()) {
    FUZZ_CHECK(any->content == dom->content);
    FUZZ_CHECK(any->finish_reason == dom->finish_reason);
    FUZZ_CHECK(any_usage == dom_usage);
  } else {
    FUZZ_CHECK(!dom.error().message.empty());
  }
  if (!fast) return 0;  // declined: the DOM reader decides
  FUZZ_CHECK(dom.ok());
  FUZZ_CHECK(fast->content == dom->content);
  FUZZ_CHECK(fast->finish_reason == dom->finish_reason);
  FUZZ_CHECK(fast->model == dom->model);
  FUZZ_CHECK(fast->upstream_model == dom->upstream_model);
  FUZZ_CHECK(fast->usage.prompt_tokens == dom->usage.prompt_tokens);
  FUZZ_CHECK(fast->usage.completion_tokens == dom->usage.completion_tokens);
  FUZZ_CHECK(fast->usage.cached_prompt_tokens == dom->usage.cached_prompt_tokens);
  FUZZ_CHECK(fast->usage.estimated == dom->usage.estimated);
  FUZZ_CHECK(fast_usage == dom_usage);
  FUZZ_CHECK(fast->tool_calls.is_null() && dom->tool_calls.is_null());
  FUZZ_CHECK(fast->token_logprobs.empty() && dom->token_logprobs.empty());
  return 0;
}

// Token logprobs in OpenAI chat completion responses (core::Completion::token_logprobs).
#include <gtest/gtest.h>

#include <cmath>

#include "providers/openai.h"

namespace triage::providers {
namespace {

// A response recorded from the OpenAI API for a request with "logprobs": true (ids shortened).
constexpr const char* kRecordedWithLogprobs = R"({
  "id": "chatcmpl-AbC123",
  "object": "chat.completion",
  "created": 1732838400,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [{
    "index": 0,
    "message": {"role": "assistant", "content": "Paris.", "refusal": null},
    "logprobs": {
      "content": [
        {"token": "Paris", "logprob": -0.0000018624639, "bytes": [80, 97, 114, 105, 115],
         "top_logprobs": []},
        {"token": ".", "logprob": -0.31326166, "bytes": [46], "top_logprobs": []}
      ],
      "refusal": null
    },
    "finish_reason": "stop"
  }],
  "usage": {"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16},
  "system_fingerprint": "fp_0ba0d124f1"
})";

TEST(OpenAILogprobs, ParsedFromChoicesLogprobsContent) {
  bool reported = false;
  auto c = openai::parse_response(kRecordedWithLogprobs, "gpt-4o-mini", reported);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->content, "Paris.");
  ASSERT_EQ(c->token_logprobs.size(), 2u);
  EXPECT_DOUBLE_EQ(c->token_logprobs[0], -0.0000018624639);
  EXPECT_DOUBLE_EQ(c->token_logprobs[1], -0.31326166);
  EXPECT_NEAR(std::exp(c->token_logprobs[1]), 0.731, 1e-3);
}

TEST(OpenAILogprobs, AbsentOrNullLeavesThemEmpty) {
  bool reported = false;
  auto none = openai::parse_response(
      R"({"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]})", "m", reported);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->token_logprobs.empty());
  auto null_lp = openai::parse_response(
      R"({"choices":[{"message":{"content":"hi"},"logprobs":null,"finish_reason":"stop"}]})", "m",
      reported);
  ASSERT_TRUE(null_lp.ok());
  EXPECT_TRUE(null_lp->token_logprobs.empty());
  // Integer logprobs (0) count; entries without a numeric logprob are skipped.
  auto odd = openai::parse_response(
      R"({"choices":[{"message":{"content":"a b"},"logprobs":{"content":[)"
      R"({"token":"a","logprob":0},{"token":"b"},{"token":" c","logprob":-1.5}]}}]})",
      "m", reported);
  ASSERT_TRUE(odd.ok());
  ASSERT_EQ(odd->token_logprobs.size(), 2u);
  EXPECT_EQ(odd->token_logprobs[0], 0.0);
  EXPECT_EQ(odd->token_logprobs[1], -1.5);
}

}  // namespace
}  // namespace triage::providers

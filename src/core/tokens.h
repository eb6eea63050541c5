#pragma once
#include <cstdint>
#include <string_view>

namespace triage::core {

// Estimates the token count of a text when the upstream did not report usage. A documented
// heuristic (about 4 characters or 0.75 words per token for English with BPE tokenizers);
// callers mark the usage as estimated.
int64_t estimate_tokens(std::string_view text);

}  // namespace triage::core

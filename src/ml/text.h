#pragma once
// Feature text for the fastText models. The same function runs when a model is trained and when
// it predicts; the metadata written next to a model records kFeaturesVersion so that a change
// here is detected instead of silently degrading a model trained with the old rules.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace triage::ml {

inline constexpr std::string_view kFeaturesVersion = "norm-v1";

// norm-v1: ASCII letters lowercased; every ASCII punctuation character becomes its own token
// (so "__label__" in user text can never be read as a label and "hello," matches "hello");
// every run of ASCII whitespace/control characters becomes one space; leading/trailing spaces
// removed. Bytes >= 0x80 (UTF-8) are kept as they are. The result holds no newline, so one
// example is one line. Pure and thread-safe.
std::string normalize_text(std::string_view text);
// The same into `out` (replaced) and, when given, the end of each of its tokens (the pieces the
// single spaces separate) into `token_ends` (replaced), for readers that split it again.
void normalize_text(std::string_view text, std::string& out,
                    std::vector<uint32_t>* token_ends = nullptr);

// What an in-process model or index reads of a text it decides on (classify, threshold,
// predict, the cascade's scorer check on each of prompt and answer, the similarity check,
// retrieve's search): its first kMaxModelTextBytes bytes. Decisions run on the request's I/O
// thread and their cost grows with the text: `classify` decisions on messages of 1 KB to 1 MB
// averaged 42.6 ms without the bound, 1.3 ms with it (docs/robustness.md). No text in the
// shipped data sets comes near it (the longest is 4.8 KB), so no shipped model or evaluation
// changes; training reads texts whole.
inline constexpr std::size_t kMaxModelTextBytes = 16 * 1024;
inline std::string_view model_text(std::string_view text) {
  return text.substr(0, std::min(text.size(), kMaxModelTextBytes));
}

}  // namespace triage::ml

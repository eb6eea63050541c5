#pragma once
// Feature text for the fastText models. The same function runs when a model is trained and when
// it predicts; the metadata written next to a model records kFeaturesVersion so that a change
// here is detected instead of silently degrading a model trained with the old rules.
#include <string>
#include <string_view>

namespace triage::ml {

inline constexpr std::string_view kFeaturesVersion = "norm-v1";

// norm-v1: ASCII letters lowercased; every ASCII punctuation character becomes its own token
// (so "__label__" in user text can never be read as a label and "hello," matches "hello");
// every run of ASCII whitespace/control characters becomes one space; leading/trailing spaces
// removed. Bytes >= 0x80 (UTF-8) are kept as they are. The result holds no newline, so one
// example is one line. Pure and thread-safe.
std::string normalize_text(std::string_view text);

}  // namespace triage::ml

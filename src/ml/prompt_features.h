#pragma once
// Structure features of a prompt for the weak/strong router (`triage train router`, scorer
// "gain"): cheap, deterministic numbers about the question and, for multiple-choice prompts in
// the MMLU layout ("QUESTION\nA. ...\nB. ...\nC. ...\nD. ...\nAnswer:"), its options. They carry
// where a weaker or a stronger model tends to fail (long computations, numeric options,
// negations, "Statement 1 |" items) beyond the prompt's words. Pure and thread-safe; the same
// code runs when a router is trained and when it scores a request. A change here must bump
// kPromptFeaturesVersion (recorded in the model metadata and checked at load).
#include <array>
#include <string>
#include <string_view>

namespace triage::ml {

inline constexpr std::string_view kPromptFeaturesVersion = "mcq-v2";
// opt_overlap compares every pair of options: only the first this many take part, so a prompt
// with thousands of "A. " lines costs linear time (mcq-v2; MMLU prompts have 4 options).
inline constexpr std::size_t kOverlapMaxOptions = 16;
inline constexpr std::size_t kPromptFeatureCount = 23;
// Index of q_len_log, which equals question_length_log() of the same prompt.
inline constexpr std::size_t kQuestionLengthFeature = 9;

// Names in the order of prompt_features()'s values.
const std::array<std::string_view, kPromptFeatureCount>& prompt_feature_names();

// The question stem: the prompt up to the first "\nA. " (the whole prompt when there is none).
std::string_view question_stem(std::string_view prompt);

// log1p(length of the question part in bytes), the input of the per-category relative length.
double question_length_log(std::string_view prompt);

std::array<double, kPromptFeatureCount> prompt_features(std::string_view prompt);

}  // namespace triage::ml

#pragma once
// A tiny intent corpus (balance, weather, oos; four utterances each) for the tests of the
// neighbour-agreement confidence (ml/intent_confidence.h) and of the classify route using it.
#include <string>
#include <vector>

#include "ml/fasttext_model.h"

namespace triage::testing {

// With `balance_as` other than "balance" the balance utterances carry that label instead, so a
// query predicted `balance` disagrees with its nearest utterance.
inline std::vector<ml::LabeledExample> intent_references(
    const std::string& balance_as = "balance") {
  return {{"checking account balance", balance_as},
          {"savings account funds", balance_as},
          {"money in checking", balance_as},
          {"balance of savings", balance_as},
          {"rain forecast today", "weather"},
          {"sunny forecast", "weather"},
          {"umbrella for rain", "weather"},
          {"cloudy snow", "weather"},
          {"banana guitar", "oos"},
          {"volcano poem", "oos"},
          {"chess dragon", "oos"},
          {"poem about a banana", "oos"}};
}

}  // namespace triage::testing
